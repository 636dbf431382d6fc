"""Leaderboard and game pages: thin HTTP around ``leaderboard.services`` and ``selectors``.

Game actions (join, write a chapter, end) are POSTs that answer HTMX with the game's live part
(``leaderboard/game.html#game-live``) and a plain form POST with a redirect, so each works
without JavaScript. Refused input answers 400 (403 when the action is not the user's to take)
with the reason, and changes nothing.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from leaderboard import live, selectors, services
from leaderboard.forms import GameForm
from leaderboard.models import Game

HISTORY_PAGE_SIZE = 20


@require_GET
@login_required
def board(request):
    context = live.board_context(user_id=request.user.pk)
    template = "leaderboard/board.html"
    if request.htmx:
        template += "#leaderboard-board"
    return render(request, template, context)


@require_GET
@login_required
def player_history(request, player_id: int):
    players = get_user_model().objects.filter(is_active=True)
    if player_id != request.user.pk:
        # Staff accounts are not players others may look up: a list of admin logins helps attackers.
        players = players.filter(is_staff=False, is_superuser=False)
    player = get_object_or_404(players, pk=player_id)
    page = Paginator(selectors.player_history(player_id=player.pk), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "leaderboard/player.html",
        {"player": player, "page": page, "rank": selectors.rank_for(user_id=player.pk)},
    )


def _games_page(request, form: GameForm, status: int = 200):
    context = {
        "form": form,
        "open_games": selectors.games_open()[: selectors.GAMES_PAGE_SIZE],
        "finished_games": selectors.games_finished()[: selectors.GAMES_PAGE_SIZE],
    }
    return render(request, "leaderboard/games.html", context, status=status)


@require_GET
@login_required
def games(request):
    return _games_page(request, GameForm())


@require_POST
@login_required
def game_new(request):
    form = GameForm(request.POST)
    if form.is_valid():
        try:
            game = services.game_open(creator=request.user, **form.cleaned_data)
        except services.GameRefused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(request, "Game opened: you write the first chapter.")
            return redirect(game)
    return _games_page(request, form, status=400)


def _game_view(request, game_id: int) -> selectors.GameView:
    try:
        return selectors.game_view(game_id=game_id, user=request.user)
    except Game.DoesNotExist:
        raise Http404("No such game.") from None


@require_GET
@login_required
def game_result(request, game_id: int):
    view = _game_view(request, game_id)
    return render(request, "leaderboard/game.html", _game_context(view))


def _game_context(view: selectors.GameView, **extra) -> dict:
    return {"view": view, "game": view.game, "results": view.results, **extra}


def _game_action(request, game_id: int, action, notice: str):
    """Run ``action(game)`` (which may answer a notice of its own); answer with the game's live
    part (HTMX) or a redirect."""
    game = get_object_or_404(Game, pk=game_id)
    error, status = "", 200
    try:
        notice = action(game) or notice
    except services.GameForbidden as refused:
        error, status = refused.message, 403
    except services.GameRefused as refused:
        error, status = refused.message, 400
    if not request.htmx and not error:
        messages.success(request, notice)
        return redirect(game)
    view = _game_view(request, game_id)
    context = _game_context(view, notice="" if error else notice, error=error)
    template = "leaderboard/game.html#game-live" if request.htmx else "leaderboard/game.html"
    return render(request, template, context, status=status)


@require_POST
@login_required
def game_join(request, game_id: int):
    return _game_action(
        request,
        game_id,
        lambda game: None if services.game_join(game=game, user=request.user)
        else "You are already playing in this game.",
        "You joined the game: you write after the players before you.",
    )


@require_POST
@login_required
def game_write(request, game_id: int):
    return _game_action(
        request,
        game_id,
        lambda game: services.game_write_chapter(
            game=game, author=request.user, text=request.POST.get("text", "")
        ),
        "Chapter added.",
    )


@require_POST
@login_required
def game_end(request, game_id: int):
    return _game_action(
        request, game_id, lambda game: services.game_finish(game=game, user=request.user),
        "Game ended: the chapters are being scored.",
    )
