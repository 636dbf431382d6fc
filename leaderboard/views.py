from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from leaderboard import live, selectors
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
    player = get_object_or_404(get_user_model(), pk=player_id)
    page = Paginator(selectors.player_history(player_id=player.pk), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "leaderboard/player.html",
        {"player": player, "page": page, "rank": selectors.rank_for(user_id=player.pk)},
    )


@require_GET
@login_required
def game_result(request, game_id: int):
    try:
        game = selectors.game_with_results(game_id=game_id)
    except Game.DoesNotExist:
        raise Http404("No such game.") from None
    return render(
        request,
        "leaderboard/game.html",
        {"game": game, "results": selectors.ranked(game.ranked_sessions)},
    )
