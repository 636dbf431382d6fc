"""Reads of the leaderboard: ranks, the top of the board, "around me", histories, results.

Ranks are standard competition ranks (100, 90, 90, 80 -> 1, 2, 2, 4): one plus the number of
entries with a strictly greater total. They come from the Redis sorted set when it is there and
from the table otherwise; both answer the same.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet

from leaderboard import sorted_set
from leaderboard.models import Game, GameSession, LeaderboardEntry

TOP_SIZE = 10
AROUND_SIZE = 5
TOP_CACHE_KEY = "leaderboard:top"
TOP_CACHE_SECONDS = 5


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: int
    username: str
    total: int
    games_played: int


def rank_for(*, user_id: int) -> int | None:
    """The user's rank (None without an entry): one Redis round trip, the table as fallback."""
    rank = sorted_set.rank_of(user_id)
    return rank if rank is not None else rank_for_db(user_id=user_id)


def rank_for_db(*, user_id: int) -> int | None:
    """The user's rank from the table alone: COUNT(*) WHERE total > mine, on the total index."""
    table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {table} AS other"  # noqa: S608 (names from _meta)
            f" WHERE other.total_score > me.total_score) + 1"
            f" FROM {table} AS me WHERE me.user_id = %s",
            [user_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _entries() -> QuerySet[LeaderboardEntry]:
    return LeaderboardEntry.objects.select_related("user").only(
        "user_id", "total_score", "games_played", "user__username"
    )


def _standing(entry: LeaderboardEntry, rank: int) -> Standing:
    return Standing(
        rank=rank,
        user_id=entry.user_id,
        username=entry.user.username,
        total=entry.total_score,
        games_played=entry.games_played,
    )


def top(*, limit: int = TOP_SIZE) -> list[Standing]:
    """The first ``limit`` entries (ties broken by user id), ranked by position.

    The top 10 is read through the cache: a submit that reaches it, and every rebuild, drop
    the cached copy after commit, and a short lifetime bounds what a racing reader could
    leave behind. Otherwise one query.
    """
    if limit == TOP_SIZE:
        cached = cache.get(TOP_CACHE_KEY)
        if cached is not None:
            return cached
    entries = list(_entries().order_by("-total_score", "user_id")[:limit])
    ranks = competition_ranks([entry.total_score for entry in entries])
    standings = [_standing(entry, rank) for entry, rank in zip(entries, ranks, strict=True)]
    if limit == TOP_SIZE:
        cache.set(TOP_CACHE_KEY, standings, timeout=TOP_CACHE_SECONDS)
    return standings


def competition_ranks(totals: list[int]) -> list[int]:
    """Ranks of totals sorted best first from the very top: 100, 90, 90, 80 -> 1, 2, 2, 4."""
    ranks: list[int] = []
    for position, total in enumerate(totals, 1):
        ranks.append(ranks[-1] if ranks and totals[position - 2] == total else position)
    return ranks


def around(*, user_id: int, above: int = AROUND_SIZE, below: int = AROUND_SIZE) -> list[Standing]:
    """The user's row with ``above`` rows before and ``below`` after it, in board order.

    Empty when the user has no entry. Ties are split by user id, as on the board, with each
    side read as two short index range scans (the tie and the strictly greater/smaller totals).
    """
    me = _entries().filter(user_id=user_id).first()
    if me is None:
        return []
    total = me.total_score
    entries = _entries()
    rows_above = list(
        entries.filter(total_score=total, user_id__lt=user_id).order_by("-user_id")[:above]
    )
    if len(rows_above) < above:
        rows_above += entries.filter(total_score__gt=total).order_by("total_score", "-user_id")[
            : above - len(rows_above)
        ]
    rows_below = list(
        entries.filter(total_score=total, user_id__gt=user_id).order_by("user_id")[:below]
    )
    if len(rows_below) < below:
        rows_below += entries.filter(total_score__lt=total).order_by("-total_score", "user_id")[
            : below - len(rows_below)
        ]
    window = [*reversed(rows_above), me, *rows_below]
    ranks = _ranks_of_window(window)
    return [_standing(entry, ranks[entry.total_score]) for entry in window]


def _ranks_of_window(window: list[LeaderboardEntry]) -> dict[int, int]:
    """Rank of each total in a contiguous run of the board (sorted by total, descending)."""
    totals = sorted({entry.total_score for entry in window}, reverse=True)
    counts = sorted_set.counts_above(totals)
    if counts is None:
        # The table: count above the window's first total once; below it, every greater total
        # lies inside the run, so the rest are counted from the window itself.
        first = totals[0]
        found = LeaderboardEntry.objects.filter(total_score__gte=first).aggregate(
            above=Count("pk", filter=Q(total_score__gt=first)), at_or_above=Count("pk")
        )
        counts = {first: found["above"]}
        for value in totals[1:]:
            between = sum(1 for entry in window if value < entry.total_score < first)
            counts[value] = found["at_or_above"] + between
    return {value: counts[value] + 1 for value in totals}


def player_history(*, player_id: int) -> QuerySet[GameSession]:
    """A player's scored games, newest first, with each game (one query)."""
    return (
        GameSession.objects.filter(player_id=player_id)
        .select_related("game")
        .order_by("-created_at", "-id")
    )


def game_with_results(*, game_id: int) -> Game:
    """A game with its sessions (best first, ties by player id) and players: three queries.

    Raises ``Game.DoesNotExist``.
    """
    sessions = GameSession.objects.select_related("player").order_by("-total_score", "player_id")
    return Game.objects.prefetch_related(
        Prefetch("sessions", queryset=sessions, to_attr="ranked_sessions"), "players"
    ).get(pk=game_id)


def ranked(sessions: list[GameSession]) -> list[tuple[int, GameSession]]:
    """Competition ranks within one game's sessions (already sorted best first)."""
    ranks = competition_ranks([session.total_score for session in sessions])
    return list(zip(ranks, sessions, strict=True))
