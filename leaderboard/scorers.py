"""Scorer backends: turn a finished game's chapters into a score and a comment per chapter and player.

The backend is chosen by dotted path in ``settings.LEADERBOARD_SCORER`` (like ``EMAIL_BACKEND``)
and every setting is read when a game is scored, never at import time.
"""

import hashlib
import json
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

MAX_CHAPTER_SCORE = 100


class ScorerError(Exception):
    """The scorer could not score the game now; the task retries with backoff."""


@dataclass(frozen=True)
class Chapter:
    title: str
    text: str
    answers: dict[int, str]  # player id -> what that player did in this chapter
    # The one player who wrote this chapter (a game written in turns); None: every player's.
    author: int | None = None


@dataclass(frozen=True)
class ChapterScore:
    score: int
    comment: str


@dataclass(frozen=True)
class ScoringRequest:
    game_id: int
    title: str
    chapters: list[Chapter]
    players: dict[int, str]  # player id -> display name
    prompt: str = ""  # the story's starting point, for games opened in the browser


class BaseScorer:
    def score(self, request: ScoringRequest) -> dict[int, list[ChapterScore]]:
        """Answer one ChapterScore per chapter for every player id of the request (for a
        chapter with an ``author``, only the author's counts; the others' may be anything)."""
        raise NotImplementedError


def get_scorer() -> BaseScorer:
    return import_string(settings.LEADERBOARD_SCORER)()


LOCAL_COMMENTS = [
    (90, "Outstanding: the story turned on this move."),
    (75, "Strong play, clear and well timed."),
    (60, "Solid, if a little safe."),
    (0, "A quiet chapter; room to take more risks."),
]


class LocalScorer(BaseScorer):
    """Deterministic and offline: the same game always gets the same scores."""

    def score(self, request: ScoringRequest) -> dict[int, list[ChapterScore]]:
        results: dict[int, list[ChapterScore]] = {}
        for player_id in request.players:
            scores = []
            for index, chapter in enumerate(request.chapters):
                answer = chapter.answers.get(player_id, "")
                seed = f"{request.game_id}:{player_id}:{index}:{answer}".encode()
                digest = int.from_bytes(hashlib.sha256(seed).digest()[:4], "big")
                # Saying something earns a base; the hash spreads players apart.
                value = (40 if answer.strip() else 0) + digest % 61
                comment = next(text for floor, text in LOCAL_COMMENTS if value >= floor)
                scores.append(ChapterScore(score=value, comment=comment))
            results[player_id] = scores
        return results


SYSTEM_PROMPT = (
    "You are the judge of a ranked storytelling game. For every player and every chapter, give "
    f"an integer score from 0 to {MAX_CHAPTER_SCORE} and a one-sentence comment. Answer with JSON "
    'only: {"players": [{"player_id": <id>, "chapters": [{"score": <int>, "comment": <str>}]}]} '
    "with the chapters in the order given. A chapter with an author was written by that "
    "player alone: judge it as writing that continues the story from its prompt, and give the "
    "other players 0 for it."
)


class ChatCompletionsScorer(BaseScorer):
    """Any OpenAI-compatible ``/chat/completions`` endpoint (base URL, model and key from settings)."""

    def score(self, request: ScoringRequest) -> dict[int, list[ChapterScore]]:
        base_url = settings.LEADERBOARD_LLM_BASE_URL.rstrip("/")
        if not base_url:
            raise ScorerError("LEADERBOARD_LLM_BASE_URL is not set.")
        headers = {}
        if settings.LEADERBOARD_LLM_API_KEY:
            headers["Authorization"] = f"Bearer {settings.LEADERBOARD_LLM_API_KEY}"
        body = {
            "model": settings.LEADERBOARD_LLM_MODEL,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(self._game_for_prompt(request))},
            ],
        }
        try:
            response = httpx.post(
                f"{base_url}/chat/completions",
                json=body,
                headers=headers,
                timeout=settings.LEADERBOARD_LLM_TIMEOUT,
            )
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise ScorerError(f"chat completions call failed: {exc}") from exc
        return self._parse(content, request)

    @staticmethod
    def _game_for_prompt(request: ScoringRequest) -> dict:
        game = {
            "title": request.title,
            "players": [{"player_id": pid, "name": name} for pid, name in request.players.items()],
            "chapters": [ChatCompletionsScorer._chapter_for_prompt(chapter, request)
                         for chapter in request.chapters],
        }
        if request.prompt:
            game["prompt"] = request.prompt
        return game

    @staticmethod
    def _chapter_for_prompt(chapter: Chapter, request: ScoringRequest) -> dict:
        if chapter.author is not None:
            return {"title": chapter.title, "author": chapter.author,
                    "text": chapter.answers.get(chapter.author, "")}
        return {
            "title": chapter.title,
            "story": chapter.text,
            "moves": {str(pid): chapter.answers.get(pid, "") for pid in request.players},
        }

    @staticmethod
    def _parse(content: str, request: ScoringRequest) -> dict[int, list[ChapterScore]]:
        try:
            players = {int(p["player_id"]): p["chapters"] for p in json.loads(content)["players"]}
            results = {}
            for player_id in request.players:
                chapters = players[player_id]
                if len(chapters) != len(request.chapters):
                    raise ValueError("wrong number of chapters")
                results[player_id] = [
                    ChapterScore(
                        score=max(0, min(MAX_CHAPTER_SCORE, int(chapter["score"]))),
                        comment=str(chapter.get("comment", ""))[:500],
                    )
                    for chapter in chapters
                ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorerError(f"unusable scorer answer: {exc}") from exc
        return results
