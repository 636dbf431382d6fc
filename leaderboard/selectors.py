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


# --- Games played in the browser ------------------------------------------------------------------

FINISHED_STATUSES = (Game.Status.ENDED, Game.Status.SCORED, Game.Status.FAILED)
GAMES_PAGE_SIZE = 20


def game_turn_order(*, game_id: int) -> list[int]:
    """The players' ids in the order they joined: the through table's ids are that order."""
    through = Game.players.through
    return list(
        through.objects.filter(game_id=game_id).order_by("pk").values_list("user_id", flat=True)
    )


def game_next_author(*, game: Game, order: list[int]) -> int | None:
    """Whose turn it is: the player who joined after the last chapter's author (wrapping
    round), the first player before any chapter; None when the game is not being played."""
    if game.status != Game.Status.PLAYING or not order:
        return None
    if not game.chapters:
        return order[0]
    last = game.chapters[-1].get("author")
    if last not in order:
        return order[0]
    return order[(order.index(last) + 1) % len(order)]


def _game_list(statuses) -> QuerySet[Game]:
    return (
        Game.objects.filter(status__in=statuses)
        .annotate(player_count=Count("players", distinct=True))
        .select_related("creator")
        .order_by("-created_at", "-id")
    )


def games_open() -> QuerySet[Game]:
    """Games being played, newest first, with ``player_count`` (one query)."""
    return _game_list([Game.Status.PLAYING])


def games_finished() -> QuerySet[Game]:
    """Ended games (scored, being scored or failed), newest first, with ``player_count``."""
    return _game_list(FINISHED_STATUSES)


@dataclass(frozen=True)
class StoryChapter:
    number: int
    title: str
    author: str | None
    text: str
    score: int | None
    comment: str


@dataclass(frozen=True)
class GameView:
    """What a game's page shows one viewer."""

    game: Game
    players: list  # users in turn order
    story: list[StoryChapter]
    results: list[tuple[int, GameSession]]
    next_author: object | None  # the user whose turn it is
    is_player: bool
    is_creator: bool
    me: int | None  # the viewer's id

    @property
    def my_turn(self) -> bool:
        return self.next_author is not None and self.next_author.pk == self.me

    @property
    def chapters_left(self) -> int:
        return max(0, self.game.chapter_count - len(self.game.chapters))

    @property
    def can_join(self) -> bool:
        return self.game.status == Game.Status.PLAYING and not self.is_player

    @property
    def can_end(self) -> bool:
        return self.is_creator and self.game.status == Game.Status.PLAYING and bool(
            self.game.chapters
        )


def _chapter_text(chapter: dict) -> str:
    """What a chapter says: its author's text, or the narration of a chapter everyone played."""
    author_id = chapter.get("author")
    if author_id is not None:
        return chapter.get("answers", {}).get(str(author_id), "")
    return chapter.get("text", "")


def game_view(*, game_id: int, user) -> GameView:
    """A game as one viewer sees it: players in turn order, the story with each chapter's
    score and comment once scored, the ranked results. Raises ``Game.DoesNotExist``."""
    game = game_with_results(game_id=game_id)
    by_id = {player.pk: player for player in game.players.all()}
    order = [by_id[pk] for pk in game_turn_order(game_id=game.pk) if pk in by_id]
    scores = {
        (session.player_id, chapter["chapter"]): chapter
        for session in game.ranked_sessions
        for chapter in session.chapter_scores
    }
    story = []
    for number, chapter in enumerate(game.chapters, 1):
        author_id = chapter.get("author")
        author = by_id.get(author_id)
        scored = scores.get((author_id, number), {})
        story.append(
            StoryChapter(
                number=number,
                title=chapter.get("title", f"Chapter {number}"),
                author=author.get_username() if author else None,
                text=_chapter_text(chapter),
                score=scored.get("score"),
                comment=scored.get("comment", ""),
            )
        )
    next_id = game_next_author(game=game, order=[player.pk for player in order])
    me = user.pk if user.is_authenticated else None
    return GameView(
        game=game,
        players=order,
        story=story,
        results=ranked(game.ranked_sessions),
        next_author=by_id.get(next_id),
        is_player=me in by_id,
        is_creator=me is not None and game.creator_id == me,
        me=me,
    )
