import factory

from leaderboard.models import Game, LeaderboardEntry
from tests.factories import UserFactory


class EntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeaderboardEntry

    user = factory.SubFactory(UserFactory)
    total_score = 0
    games_played = 0


class GameFactory(factory.django.DjangoModelFactory):
    """A game in play; pass ``players=[...]`` to seat players (answers are filled in)."""

    class Meta:
        model = Game
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Ranked game {n}")
    chapters = factory.LazyFunction(
        lambda: [
            {"title": "Arrival", "text": "The ship docks at dawn.", "answers": {}},
            {"title": "The map", "text": "A torn map turns up.", "answers": {}},
            {"title": "Departure", "text": "The tide turns.", "answers": {}},
        ]
    )

    @factory.post_generation
    def players(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        self.players.set(extracted)
        for index, chapter in enumerate(self.chapters):
            chapter["answers"] = {str(p.pk): f"{p.username} acts in chapter {index + 1}" for p in extracted}
        self.save(update_fields=["chapters"])
