from django import forms

from infusionclinic.common.formfields import EdgeIntegerField

from .models import ContactPreference, Interest, LeadStatus, Page


class HoneypotMixin(forms.Form):
    """A field people never see (hidden by CSS, skipped by keyboard and screen readers) but form-
    filling bots do: a post that fills it is dropped without a word."""

    website = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def is_spam(self) -> bool:
        return bool(self.data.get("website"))


class ConsultationRequestForm(HoneypotMixin):
    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(label="Email")
    phone = forms.CharField(
        max_length=32, required=False, label="Phone", widget=forms.TextInput(attrs={"type": "tel"})
    )
    contact_preference = forms.ChoiceField(
        choices=ContactPreference.choices,
        label="How should we contact you?",
        widget=forms.RadioSelect,
        initial=ContactPreference.EMAIL,
    )
    reason = forms.ChoiceField(
        choices=[("", "Choose one"), *Interest.choices[:-1]],
        label="What would you like help with?",
    )
    has_mental_health_provider = forms.BooleanField(
        required=False, label="I currently see a mental-health provider or physician"
    )
    message = forms.CharField(
        required=False,
        max_length=2000,
        label="Anything we should know to arrange the call (optional)",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    field_order = ["name", "email", "phone", "contact_preference", "reason"]


class PageEditForm(forms.ModelForm):
    version = EdgeIntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Page
        fields = ["title", "description", "body_markdown"]
        labels = {"body_markdown": "Text (Markdown)"}
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "body_markdown": forms.Textarea(attrs={"rows": 24, "class": "markdown"}),
        }


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(choices=LeadStatus.choices)
