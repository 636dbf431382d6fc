"""Demo content: a scored ranked game among the demo users, so the board and a notification show."""

from leaderboard import services
from leaderboard.models import Game

DEMO_GAME_TITLE = "The Lighthouse Mystery"


def load(*, users: dict) -> list[str]:
    """Idempotent: the game is made, ended and scored once; later runs find it."""
    players = [users[name] for name in ("alice", "bob", "organizer") if name in users]
    game = Game.objects.filter(title=DEMO_GAME_TITLE).first()
    if game is None:
        answers = {
            "The storm": ["I light the lamp by hand.", "I check the logbook.", "I wait it out."],
            "The stranger": ["I offer tea and ask questions.", "I follow him.", "I call the coast guard."],
            "The keeper's secret": ["I open the locked chest.", "I read the letters.", "I keep it shut."],
        }
        game = services.game_create(
            title=DEMO_GAME_TITLE,
            players=players,
            chapters=[
                {
                    "title": title,
                    "text": f"Chapter: {title.lower()}.",
                    "answers": {player.pk: moves[i] for i, player in enumerate(players)},
                }
                for title, moves in answers.items()
            ],
        )
    if game.status == Game.Status.PLAYING:
        services.game_end(game=game)
    if game.status == Game.Status.ENDED:
        # Score now rather than wait for a worker, so the first page view already shows it.
        services.game_score(game_id=game.pk)
    return [f"Leaderboard: /leaderboard/ (game {DEMO_GAME_TITLE!r}: /leaderboard/games/{game.pk}/)"]
