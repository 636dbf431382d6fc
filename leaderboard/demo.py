"""Demo content: a scored ranked game among the demo users, so the board and a notification show,
and an open game alice started in the browser, waiting for bob to join and write chapter 2."""

from leaderboard import services
from leaderboard.models import Game

DEMO_GAME_TITLE = "The Lighthouse Mystery"
OPEN_GAME_TITLE = "The Night Train"


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
    notes = [
        f"Leaderboard: /leaderboard/ (game {DEMO_GAME_TITLE!r}: /leaderboard/games/{game.pk}/)"
    ]
    if "alice" in users:
        open_game = Game.objects.filter(title=OPEN_GAME_TITLE).first()
        if open_game is None:
            open_game = services.game_open(
                creator=users["alice"],
                title=OPEN_GAME_TITLE,
                prompt="The last train of the night stops between two stations, and the lights "
                "go out.",
                chapter_count=4,
            )
            services.game_write_chapter(
                game=open_game,
                author=users["alice"],
                text="Someone screams in the dark. When a match is struck, the conductor is gone.",
            )
        notes.append(
            f"Games: /leaderboard/games/ ({OPEN_GAME_TITLE!r} is open: join as bob and write on)"
        )
    return notes
