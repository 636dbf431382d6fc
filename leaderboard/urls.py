from django.urls import path

from leaderboard import views

app_name = "leaderboard"

urlpatterns = [
    path("", views.board, name="board"),
    path("players/<int:player_id>/", views.player_history, name="player"),
    path("games/<int:game_id>/", views.game_result, name="game"),
]
