"""Writes of the leaderboard: games, scoring, score submits, the sorted set and its rebuild.

The table is the record; the Redis sorted set and the live page are updated after commit.
"""

import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from config.celery import enqueue
from leaderboard import live, selectors, sorted_set
from leaderboard.models import Game, GameSession, LeaderboardEntry
from leaderboard.scorers import Chapter, ScoringRequest, get_scorer
from notifications.services import notify

logger = logging.getLogger(__name__)
# Scores one ended game (leaderboard.tasks.game_score_task); queued by name, see config.celery.
SCORE_TASK = "leaderboard.tasks.game_score_task"

REBUILD_PENDING_KEY = "leaderboard:rebuild-pending"


@dataclass(frozen=True)
class ScoreChange:
    user_id: int
    old_total: int
    new_total: int


def game_create(*, title: str, players: Iterable, chapters: list[dict]) -> Game:
    """A game in play. ``chapters``: ``[{"title", "text", "answers": {player id: text}}]``."""
    players = list(players)
    if not players:
        raise ValueError("A ranked game needs at least one player.")
    if not chapters:
        raise ValueError("A ranked game needs at least one chapter.")
    normalised = [
        {
            "title": str(chapter["title"]),
            "text": str(chapter.get("text", "")),
            "answers": {str(pid): str(text) for pid, text in chapter.get("answers", {}).items()},
        }
        for chapter in chapters
    ]
    with transaction.atomic():
        game = Game.objects.create(title=title, chapters=normalised)
        game.players.set(players)
    return game


def game_end(*, game: Game) -> bool:
    """Move a game from playing to ended and queue its scoring after commit.

    Guarded in the database: only the first call for a game does anything (answers False after).
    """
    with transaction.atomic():
        ended = Game.objects.filter(pk=game.pk, status=Game.Status.PLAYING).update(
            status=Game.Status.ENDED, ended_at=timezone.now()
        )
        if ended:
            # "Scoring…" on the open pages first: a scoring that runs where it is queued
            # (eager tasks) would otherwise come before it.
            live.game_changed_on_commit(game_id=game.pk)
            transaction.on_commit(partial(enqueue, SCORE_TASK, [game.pk]))
    game.refresh_from_db(fields=["status", "ended_at"])
    return bool(ended)


# --- Games played in the browser ------------------------------------------------------------------
#
# A game opened on the games page has a story prompt and a number of chapters. Players join
# while it is open; the chapters are written in turns, one author each, in the order the
# players joined (the creator first): after a chapter by one player comes the next player who
# joined after them, wrapping round, so a late joiner takes the next free seat at the end of
# the table. The last chapter ends the game; the creator may end it earlier, once a chapter
# is written. Every write locks the game row, so two clicks at once cannot both take a turn.

MAX_CHAPTERS = 12
MAX_CHAPTER_CHARS = 4000
MAX_PROMPT_CHARS = 1000


class GameRefused(Exception):
    """A game action that is not allowed now; ``message`` says why (the views answer 400)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class GameForbidden(GameRefused):
    """The action is not this user's to take (the views answer 403)."""


def _lock_game(game_id: int) -> Game:
    return Game.objects.select_for_update().get(pk=game_id)


def game_open(*, creator, title: str, prompt: str, chapter_count: int) -> Game:
    """Open a game for others to join; ``creator`` is its first player and writes first."""
    title, prompt = title.strip(), prompt.strip()
    if not title:
        raise GameRefused("Give the game a title.")
    if len(title) > 200:
        raise GameRefused("The title is too long (200 characters at most).")
    if not prompt:
        raise GameRefused("Give the story a prompt to start from.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise GameRefused(f"The prompt is too long ({MAX_PROMPT_CHARS} characters at most).")
    if not 1 <= chapter_count <= MAX_CHAPTERS:
        raise GameRefused(f"A game has 1 to {MAX_CHAPTERS} chapters.")
    with transaction.atomic():
        game = Game.objects.create(
            title=title, prompt=prompt, chapter_count=chapter_count, creator=creator
        )
        game.players.add(creator)
    return game


def game_join(*, game: Game, user) -> bool:
    """Take a seat in an open game (the end of the turn order). False when already seated."""
    with transaction.atomic():
        game = _lock_game(game.pk)
        if game.status != Game.Status.PLAYING:
            raise GameRefused("This game has finished: it can no longer be joined.")
        if game.players.filter(pk=user.pk).exists():
            return False
        game.players.add(user)
        live.game_changed_on_commit(game_id=game.pk)
    return True


def game_write_chapter(*, game: Game, author, text: str) -> Game:
    """Add the next chapter, written by the player whose turn it is; the last one ends the game.

    Raises ``GameRefused`` (empty or too long, not this player's turn, game over) or
    ``GameForbidden`` (not a player of this game); nothing changes then.
    """
    text = text.strip()
    if not text:
        raise GameRefused("Write something: an empty chapter does not count.")
    if len(text) > MAX_CHAPTER_CHARS:
        raise GameRefused(f"A chapter is {MAX_CHAPTER_CHARS} characters at most.")
    with transaction.atomic():
        game = _lock_game(game.pk)
        if game.status != Game.Status.PLAYING:
            raise GameRefused("This game has ended: no more chapters.")
        order = selectors.game_turn_order(game_id=game.pk)
        if author.pk not in order:
            raise GameForbidden("Only the game's players write its chapters: join it first.")
        turn = selectors.game_next_author(game=game, order=order)
        if turn != author.pk:
            name = get_user_model().objects.values_list("username", flat=True).get(pk=turn)
            raise GameRefused(f"It is {name}'s turn to write the next chapter.")
        number = len(game.chapters) + 1
        game.chapters = [
            *game.chapters,
            {"title": f"Chapter {number}", "text": "", "answers": {str(author.pk): text},
             "author": author.pk},
        ]
        game.save(update_fields=["chapters"])
        if game.chapter_count and number >= game.chapter_count:
            game_end(game=game)
        else:
            live.game_changed_on_commit(game_id=game.pk)
    return game


def game_finish(*, game: Game, user) -> Game:
    """The creator ends the game early (once a chapter is written); scoring follows."""
    with transaction.atomic():
        game = _lock_game(game.pk)
        if game.creator_id != user.pk:
            raise GameForbidden("Only the player who opened the game can end it.")
        if game.status != Game.Status.PLAYING:
            raise GameRefused("This game has already ended.")
        if not game.chapters:
            raise GameRefused("Write at least one chapter before ending the game.")
        game_end(game=game)
    return game


def games_sweep_stuck(*, now=None) -> dict[str, int]:
    """Games ended longer than ``LEADERBOARD_SCORING_STALE_SECONDS`` ago and still unscored (the
    scoring task ran out of retries, crashed, or never reached the broker): queue their scoring
    again, or, once ``LEADERBOARD_SCORING_MAX_ATTEMPTS`` scorings have failed, mark them failed
    (visible in the admin, logged at ERROR). Idempotent; scoring itself is exactly-once."""
    now = now or timezone.now()
    stale = Game.objects.filter(
        status=Game.Status.ENDED,
        ended_at__lte=now - timedelta(seconds=settings.LEADERBOARD_SCORING_STALE_SECONDS),
    )
    max_attempts = settings.LEADERBOARD_SCORING_MAX_ATTEMPTS
    given_up = list(
        stale.filter(scoring_attempts__gte=max_attempts).values_list("pk", "last_scoring_error")
    )
    for game_id, error in given_up:
        if Game.objects.filter(pk=game_id, status=Game.Status.ENDED).update(
            status=Game.Status.FAILED
        ):
            logger.error(
                "Game %s: scoring failed %d times, marked failed (last error: %s)",
                game_id, max_attempts, error or "none recorded",
            )
    requeued = list(
        stale.filter(scoring_attempts__lt=max_attempts).values_list("pk", flat=True)[:1000]
    )
    for game_id in requeued:
        enqueue(SCORE_TASK, [game_id])
    if requeued:
        logger.warning("Scoring queued again for %d stuck games: %s", len(requeued), requeued)
    return {"requeued": len(requeued), "failed": len(given_up)}


def game_scoring_retry(*, game: Game) -> bool:
    """Give a failed game a fresh set of scoring attempts and queue it after commit."""
    with transaction.atomic():
        retried = Game.objects.filter(pk=game.pk, status=Game.Status.FAILED).update(
            status=Game.Status.ENDED, scoring_attempts=0
        )
        if retried:
            transaction.on_commit(partial(enqueue, SCORE_TASK, [game.pk]))
    return bool(retried)


def _scoring_request(game: Game) -> ScoringRequest:
    players = {user.pk: user.get_username() for user in game.players.order_by("pk")}
    chapters = [
        Chapter(
            title=chapter["title"],
            text=chapter.get("text", ""),
            answers={int(pid): text for pid, text in chapter.get("answers", {}).items()},
            author=chapter.get("author"),
        )
        for chapter in game.chapters
    ]
    return ScoringRequest(
        game_id=game.pk, title=game.title, chapters=chapters, players=players, prompt=game.prompt
    )


def game_score(*, game_id: int) -> bool:
    """Score an ended game exactly once; answers False when there was nothing to do.

    The scorer (maybe a network call) runs outside any transaction; the results are stored
    only by the caller that wins the guarded ``ended -> scored`` transition, so a task that
    runs twice (or twice at once) scores the game once. Raises ``ScorerError`` for a retry.
    """
    game = Game.objects.get(pk=game_id)
    if game.status != Game.Status.ENDED:
        return False
    Game.objects.filter(pk=game_id).update(scoring_attempts=F("scoring_attempts") + 1)
    request = _scoring_request(game)
    try:
        results = get_scorer().score(request)
    except Exception as exc:
        Game.objects.filter(pk=game_id).update(last_scoring_error=str(exc)[:2000])
        raise
    with transaction.atomic():
        won = Game.objects.filter(pk=game_id, status=Game.Status.ENDED).update(
            status=Game.Status.SCORED, scored_at=timezone.now(), last_scoring_error=""
        )
        if not won:
            return False
        sessions = [
            GameSession(
                game=game,
                player_id=player_id,
                total_score=sum(chapter["score"] for chapter in scored),
                chapter_scores=scored,
            )
            for player_id in request.players
            for scored in [_chapter_scores(request, results[player_id], player_id)]
        ]
        GameSession.objects.bulk_create(sessions)
        totals = {
            session.player_id: score_submit(
                user_id=session.player_id, points=session.total_score, games=1
            ).new_total
            for session in sessions
        }
        _notify_game_scored(game=game, sessions=sessions, totals=totals)
        live.game_changed_on_commit(game_id=game_id)
    return True


def _chapter_scores(request: ScoringRequest, scores: list, player_id: int) -> list[dict]:
    """A player's scored chapters: all of them, except that a chapter with an author is its
    author's alone (a story written in turns scores each chapter for the one who wrote it)."""
    return [
        {
            "chapter": index + 1,
            "title": request.chapters[index].title,
            "score": chapter.score,
            "comment": chapter.comment,
        }
        for index, chapter in enumerate(scores)
        if request.chapters[index].author in (None, player_id)
    ]


def _notify_game_scored(
    *, game: Game, sessions: list[GameSession], totals: dict[int, int]
) -> None:
    """One "game scored" per player, with the rank after every player's points are in."""
    url = reverse("leaderboard:game", args=[game.pk])
    for session in sessions:
        notify(
            kind="game_scored",
            recipients=[session.player_id],
            subject=game,
            context={
                "game_id": game.pk,
                "game_title": game.title,
                "total": session.total_score,
                "leaderboard_total": totals[session.player_id],
                "rank": selectors.rank_for_db(user_id=session.player_id),
                "chapters": session.chapter_scores,
            },
            dedupe_key=f"leaderboard:game:{game.pk}:scored",
            url=url,
        )


# The submit statement, prepared once per PostgreSQL connection: parsed and planned once instead
# of on every submit (a third of its server CPU). Parameters: points, games, now, user id.
# Not psycopg's prepare_threshold: Django's cursors bind parameters on the client
# (server_side_binding off, Django's default, which this project keeps) and psycopg's
# client-side cursors never prepare; an explicit PREPARE of this one hot statement does.
_SUBMIT_STATEMENT = "leaderboard_submit"
_prepared_on: weakref.WeakSet = weakref.WeakSet()  # the psycopg connections that hold it


def _prepare_submit(cursor) -> None:
    """PREPARE the submit statement on this connection unless it already has it.

    A prepared statement lives as long as its session, whatever happens to the transaction
    around the PREPARE; a new connection (reconnect, new process) prepares again.
    """
    raw = connection.connection
    if raw in _prepared_on:
        return
    table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    # One statement, one round trip; the top 10 of the others is read from the statement's
    # snapshot, which the increment of this one row does not change.
    cursor.execute(
        f"PREPARE {_SUBMIT_STATEMENT} (bigint, integer, timestamptz, integer) AS"  # noqa: S608
        f" WITH updated AS (UPDATE {table} SET total_score = total_score + $1,"
        f" games_played = games_played + $2, updated_at = $3 WHERE user_id = $4"
        f" RETURNING total_score)"
        f" SELECT updated.total_score, top.user_id, top.total_score FROM updated"
        f" LEFT JOIN (SELECT user_id, total_score FROM {table} WHERE user_id <> $4"
        f" ORDER BY total_score DESC, user_id LIMIT {selectors.TOP_SIZE}) AS top ON TRUE"
        f" ORDER BY top.total_score DESC, top.user_id"
    )
    _prepared_on.add(raw)


def _increment(cursor, *, user_id: int, points: int, games: int) -> list[tuple]:
    """Add to one entry; answers ``[(new total, other id, other total), ...]`` for the top 10 of
    everyone else (``[(new total, None, None)]`` when alone), or ``[]`` without an entry."""
    params = [points, games, timezone.now(), user_id]
    if connection.vendor == "postgresql":
        _prepare_submit(cursor)
        cursor.execute(f"EXECUTE {_SUBMIT_STATEMENT} (%s, %s, %s, %s)", params)
        return cursor.fetchall()
    table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    with transaction.atomic():  # SQLite has no UPDATE inside WITH: two statements
        cursor.execute(
            f"UPDATE {table} SET total_score = total_score + %s,"  # noqa: S608
            f" games_played = games_played + %s, updated_at = %s WHERE user_id = %s"
            f" RETURNING total_score",
            params,
        )
        row = cursor.fetchone()
        if row is None:
            return []
        cursor.execute(
            f"SELECT user_id, total_score FROM {table} WHERE user_id <> %s"  # noqa: S608
            f" ORDER BY total_score DESC, user_id LIMIT {selectors.TOP_SIZE}",
            [user_id],
        )
        return [(row[0], *other) for other in cursor.fetchall()] or [(row[0], None, None)]


def score_submit(*, user_id: int, points: int, games: int = 0) -> ScoreChange:
    """Add ``points`` (>= 0) to the user's entry, creating it when missing.

    The increment is one atomic ``UPDATE ... SET total = total + x``, so concurrent submits for
    one player all count. Outside a transaction it commits on its own (one round trip); inside
    one it joins it. "Rank changed" notifications follow in a transaction of their own only
    when a top-10 position moved; the sorted set and the live page follow after commit.
    """
    if points < 0 or games < 0:
        raise ValueError("Scores only grow: points and games must not be negative.")
    with connection.cursor() as cursor:
        rows = _increment(cursor, user_id=user_id, points=points, games=games)
        if not rows:
            LeaderboardEntry.objects.bulk_create(
                [LeaderboardEntry(user_id=user_id)], ignore_conflicts=True
            )
            rows = _increment(cursor, user_id=user_id, points=points, games=games)
    new_total = rows[0][0]
    change = ScoreChange(user_id=user_id, old_total=new_total - points, new_total=new_total)
    others = [(other_id, total) for _, other_id, total in rows if other_id is not None]
    in_top = len(others) < selectors.TOP_SIZE or others[-1][1] <= new_total
    if points:
        _notify_rank_changes(change, others)
    transaction.on_commit(partial(_publish, user_id, change.new_total, in_top))
    return change


def _publish(user_id: int, total: int, in_top: bool) -> None:
    """After commit: the sorted set, the cached top 10 and the live broadcast.

    With the cache in the sorted set's Redis (the default) that is one script, one round trip;
    otherwise one call each.
    """
    if sorted_set.shares_cache():
        answer = sorted_set.set_total_after_submit(
            user_id,
            total,
            flag_key=cache.make_key(live.BROADCAST_PENDING_KEY),
            flag_seconds=live.broadcast_interval(),
            drop=[cache.make_key(selectors.TOP_CACHE_KEY)] if in_top else [],
        )
        if answer is None:
            return  # Redis unavailable (logged): the nightly rebuild repairs the set
        written, flagged = answer
        if not written:
            ranking_rebuild_request()
        if flagged:
            live.broadcast_queue()
        return
    if in_top:
        cache.delete(selectors.TOP_CACHE_KEY)
    written = sorted_set.set_totals([(user_id, total)])
    if written is False:
        ranking_rebuild_request()
    live.broadcast_schedule()


def _rank_window() -> int:
    return settings.LEADERBOARD_RANK_NOTIFY_WINDOW


def _notify_rank_changes(change: ScoreChange, others: list[tuple[int, int]]) -> None:
    """"Rank changed" for entering the top 10, and for each top-10 player just overtaken.

    ``others``: the top 10 of everyone but the submitter, best first. The dedupe key holds a
    time window, so a player hears about rank changes at most once per window however busy the
    board is.
    """
    full = len(others) == selectors.TOP_SIZE
    if full and others[-1][1] > change.new_total:
        return  # still outside the top 10, and nobody in it was passed
    rank_now = 1 + sum(1 for _, total in others if total > change.new_total)
    was_in_top = not (full and others[-1][1] > change.old_total)
    overtaken = [
        (user_id, total) for user_id, total in others if change.old_total <= total < change.new_total
    ]
    if full and change.old_total <= others[-1][1] < change.new_total:
        # Players tied with the 10th were in the top 10 too.
        overtaken += LeaderboardEntry.objects.filter(total_score=others[-1][1]).exclude(
            user_id__in=[change.user_id, *(user_id for user_id, _ in others)]
        ).values_list("user_id", "total_score")[:100]
    if was_in_top and not overtaken:
        return
    with transaction.atomic():
        _send_rank_changes(change, others, overtaken, None if was_in_top else rank_now)


def _send_rank_changes(
    change: ScoreChange,
    others: list[tuple[int, int]],
    overtaken: list[tuple[int, int]],
    entered_at_rank: int | None,
) -> None:
    window = int(time.time()) // _rank_window()
    url = reverse("leaderboard:board")
    if entered_at_rank is not None:
        notify(
            kind="rank_changed",
            recipients=[change.user_id],
            subject=None,
            context={"reason": "entered_top", "rank": entered_at_rank, "total": change.new_total},
            dedupe_key=f"leaderboard:rank:{window}",
            url=url,
        )
    if overtaken:
        by = get_user_model().objects.values_list("username", flat=True).get(pk=change.user_id)
        for user_id, total in overtaken:
            rank = 1 + sum(1 for _, other in others if other > total)  # before being passed
            notify(
                kind="rank_changed",
                recipients=[user_id],
                subject=None,
                context={
                    "reason": "overtaken",
                    "rank": rank + 1,
                    "previous_rank": rank,
                    "total": total,
                    "overtaken_by": by,
                },
                dedupe_key=f"leaderboard:rank:{window}",
                url=url,
            )


def ranking_rebuild_request() -> bool:
    """Queue one rebuild of the sorted set (answers False when one is already queued)."""
    if not cache.add(REBUILD_PENDING_KEY, 1, timeout=300):
        return False
    enqueue("leaderboard.tasks.leaderboard_rebuild")
    return True


def ranking_rebuild() -> dict[str, int]:
    """Rebuild the Redis sorted set from the table and report the drift that was repaired.

    Safe while scores keep coming: totals changed during the rebuild are written again after
    the swap (``ZADD GT`` never lowers a score). Idempotent.
    """
    cache.delete(selectors.TOP_CACHE_KEY)
    if sorted_set.client() is None:
        logger.info("Embedded mode: no sorted set to rebuild; ranks come from the table.")
        return {"entries": LeaderboardEntry.objects.count(), "missing": 0, "wrong": 0, "extra": 0}
    started = timezone.now()
    rows = (
        LeaderboardEntry.objects.order_by()
        .values_list("user_id", "total_score")
        .iterator(chunk_size=10_000)
    )
    report = sorted_set.rebuild(rows)
    recent = LeaderboardEntry.objects.filter(updated_at__gte=started).values_list(
        "user_id", "total_score"
    )
    sorted_set.set_totals(recent.iterator(chunk_size=10_000))
    cache.delete(REBUILD_PENDING_KEY)
    drift = report["missing"] + report["wrong"] + report["extra"]
    log = logger.warning if drift else logger.info
    log("Leaderboard sorted set rebuilt: %s", report)
    live.broadcast_schedule()
    return report
