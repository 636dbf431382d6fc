from django.contrib import admin, messages

from leaderboard import services
from leaderboard.models import Game, GameSession, LeaderboardEntry


class GameSessionInline(admin.TabularInline):
    model = GameSession
    extra = 0
    can_delete = False
    fields = ("player", "total_score", "chapter_scores", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # sessions come from scoring only: the trail is append-only


@admin.register(Game)
class GameAdmin(admin.ModelAdmin):
    list_display = ("title", "status", "created_at", "ended_at", "scored_at", "scoring_attempts")
    list_filter = ("status",)
    search_fields = ("title",)
    filter_horizontal = ("players",)
    readonly_fields = ("status", "ended_at", "scored_at", "scoring_attempts", "last_scoring_error")
    inlines = [GameSessionInline]
    actions = ["end_and_score", "retry_scoring"]

    @admin.action(description="End the selected games and score them")
    def end_and_score(self, request, queryset):
        ended = sum(services.game_end(game=game) for game in queryset)
        self.message_user(request, f"{ended} game(s) ended; scoring is queued.", messages.SUCCESS)

    @admin.action(description="Score the selected failed games again")
    def retry_scoring(self, request, queryset):
        retried = sum(services.game_scoring_retry(game=game) for game in queryset)
        self.message_user(request, f"Scoring queued again for {retried} failed game(s).",
                          messages.SUCCESS)


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(admin.ModelAdmin):
    list_display = ("user", "total_score", "games_played", "updated_at")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "total_score", "games_played", "updated_at")
    actions = ["rebuild_ranking"]

    def has_add_permission(self, request):
        return False  # entries change through score submits only

    @admin.action(description="Rebuild the ranking (sorted set) from the table")
    def rebuild_ranking(self, request, queryset):
        report = services.ranking_rebuild()
        self.message_user(
            request,
            "Ranking rebuilt from {entries} entries; drift repaired: {missing} missing, "
            "{wrong} wrong, {extra} extra.".format(**report),
            messages.SUCCESS,
        )
