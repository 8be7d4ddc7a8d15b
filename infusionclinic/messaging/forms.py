from __future__ import annotations

from django import forms

from .models import ThreadCategory, ThreadStatus
from .services import BODY_MAX, SUBJECT_MAX

FILE_HELP = "Optional: a PDF, JPEG or PNG file, up to 10 MB."


class ComposeForm(forms.Form):
    category = forms.ChoiceField(
        label="What is it about?",
        choices=ThreadCategory.choices,
        widget=forms.RadioSelect,
    )
    subject = forms.CharField(label="Subject", max_length=SUBJECT_MAX)
    body = forms.CharField(
        label="Message", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 6})
    )
    file = forms.FileField(label="Attach a file", required=False, help_text=FILE_HELP)


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 5})
    )
    file = forms.FileField(label="Attach a file", required=False, help_text=FILE_HELP)


class StaffReplyForm(ReplyForm):
    status = forms.ChoiceField(
        label="Status after this answer",
        choices=[
            (ThreadStatus.WAITING_ON_PATIENT, "Waiting on patient"),
            (ThreadStatus.IN_PROGRESS, "In progress"),
            (ThreadStatus.CLOSED, "Closed"),
        ],
        initial=ThreadStatus.WAITING_ON_PATIENT,
    )


class ThreadUpdateForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=ThreadStatus.choices)
    assignee = forms.TypedChoiceField(label="Assigned to", coerce=int, choices=[])

    def __init__(self, *args, assignees=(), **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [(-1, "Nobody")] + [
            (u.pk, u.full_name or u.email) for u in assignees
        ]
