"""The form that opens a ranked game; the rules themselves are in ``services.game_open``."""

from django import forms

from leaderboard.services import MAX_CHAPTERS, MAX_PROMPT_CHARS


class GameForm(forms.Form):
    title = forms.CharField(max_length=200)
    prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Where the story starts: the first chapter picks it up from here.",
    )
    chapter_count = forms.IntegerField(
        label="Chapters", min_value=1, max_value=MAX_CHAPTERS, initial=4,
        help_text="Written in turns, in the order players joined; the last one ends the game.",
    )
