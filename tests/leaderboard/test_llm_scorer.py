"""The chat-completions scorer against a small OpenAI-compatible server on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leaderboard import services
from leaderboard.models import Game, GameSession
from leaderboard.scorers import ChatCompletionsScorer, ScorerError
from leaderboard.tasks import game_score_task
from tests.leaderboard.factories import GameFactory, UserFactory

pytestmark = pytest.mark.django_db


class FakeChatCompletions:
    """Answers POST /v1/chat/completions; ``failures`` first requests get HTTP 500."""

    def __init__(self, failures: int = 0, content: str | None = None):
        self.failures = failures
        self.content = content
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if len(fake.requests) <= fake.failures:
                    self._answer(500, {"error": {"message": "overloaded"}})
                    return
                self._answer(200, fake.completion(body))

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def completion(self, body: dict) -> dict:
        """Score each move by its length, as a deterministic stand-in for a model."""
        game = json.loads(body["messages"][-1]["content"])
        players = [
            {
                "player_id": player["player_id"],
                "chapters": [
                    {
                        "score": min(100, len(chapter["moves"][str(player["player_id"])])),
                        "comment": f"{player['name']} in {chapter['title']}: well told.",
                    }
                    for chapter in game["chapters"]
                ],
            }
            for player in game["players"]
        ]
        content = self.content if self.content is not None else json.dumps({"players": players})
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": content}}
            ],
        }

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm(settings):
    servers = []

    def start(**kwargs):
        fake = FakeChatCompletions(**kwargs)
        servers.append(fake)
        settings.LEADERBOARD_SCORER = "leaderboard.scorers.ChatCompletionsScorer"
        settings.LEADERBOARD_LLM_BASE_URL = fake.url
        settings.LEADERBOARD_LLM_MODEL = "judge-small"
        settings.LEADERBOARD_LLM_API_KEY = "sk-test"
        return fake

    yield start
    for fake in servers:
        fake.close()


@pytest.fixture
def game():
    return GameFactory(players=[UserFactory(username="ann"), UserFactory(username="ben")])


def test_the_model_scores_every_chapter_of_every_player(llm, game, django_capture_on_commit_callbacks):
    fake = llm()
    with django_capture_on_commit_callbacks(execute=True):
        services.game_end(game=game)

    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "judge-small"
    session = GameSession.objects.get(game=game, player__username="ann")
    assert session.chapter_scores[0] == {
        "chapter": 1,
        "title": "Arrival",
        "score": len("ann acts in chapter 1"),
        "comment": "ann in Arrival: well told.",
    }
    assert session.total_score == 3 * len("ann acts in chapter 1")


def test_a_failing_model_is_retried_and_the_game_scored_once(
    llm, game, django_capture_on_commit_callbacks
):
    fake = llm(failures=1)
    with django_capture_on_commit_callbacks(execute=False):
        services.game_end(game=game)

    # Eager Celery runs each retry inline when exceptions are not propagated.
    result = game_score_task.apply(args=[game.pk], throw=False)
    assert result.get() is True
    assert len(fake.requests) == 2
    game.refresh_from_db()
    assert game.status == Game.Status.SCORED
    assert game.scoring_attempts == 2
    assert game.last_scoring_error == ""
    assert GameSession.objects.filter(game=game).count() == 2


def test_an_unusable_answer_is_a_scorer_error_and_leaves_the_game_waiting(llm, game):
    llm(content="I think everyone did great!")
    services.game_end(game=game)  # outside a transaction the task does not run yet
    with pytest.raises(ScorerError, match="unusable scorer answer"):
        services.game_score(game_id=game.pk)
    game.refresh_from_db()
    assert game.status == Game.Status.ENDED
    assert "unusable scorer answer" in game.last_scoring_error
    assert not GameSession.objects.filter(game=game).exists()


def test_an_unreachable_endpoint_is_a_scorer_error(settings, game):
    settings.LEADERBOARD_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    request = services._scoring_request(game)
    with pytest.raises(ScorerError, match="chat completions call failed"):
        ChatCompletionsScorer().score(request)
