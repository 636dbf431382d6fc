from django.urls import path

from leaderboard import views

app_name = "leaderboard"

urlpatterns = [
    path("", views.board, name="board"),
    path("players/<int:player_id>/", views.player_history, name="player"),
    path("games/", views.games, name="games"),
    path("games/new/", views.game_new, name="game_new"),
    path("games/<int:game_id>/", views.game_result, name="game"),
    path("games/<int:game_id>/join/", views.game_join, name="game_join"),
    path("games/<int:game_id>/chapters/", views.game_write, name="game_write"),
    path("games/<int:game_id>/end/", views.game_end, name="game_end"),
]
