from django import forms

from infusionclinic.website.forms import HoneypotMixin
from infusionclinic.website.models import Interest

from .models import Campaign


class SubscribeForm(HoneypotMixin):
    email = forms.EmailField(label="Email", max_length=254)
    name = forms.CharField(label="Name (optional)", max_length=200, required=False)
    interests = forms.MultipleChoiceField(
        label="I'm interested in",
        choices=Interest.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    field_order = ["email", "name", "interests"]


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["subject", "body_markdown", "segment"]
        labels = {"body_markdown": "Text (Markdown)", "segment": "Send to"}
        widgets = {"body_markdown": forms.Textarea(attrs={"rows": 18})}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [
            ("", "Every confirmed subscriber"),
            *((v, f"Only those interested in: {label}") for v, label in Interest.choices),
        ]
