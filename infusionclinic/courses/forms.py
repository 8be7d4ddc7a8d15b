from django import forms

from infusionclinic.common.formfields import EdgeIntegerField

from .models import Indication, Phase, Protocol
from .services import PROTOCOL_EDITABLE


class CourseStartForm(forms.Form):
    indication = forms.ChoiceField(choices=Indication.choices)
    primary_instrument = forms.CharField(
        max_length=20,
        required=False,
        help_text="PROT-13: leave empty for the protocol's (PHQ-9 for depression, PCL-5 for PTSD, "
        "GAD-7 for anxiety, pain NRS for pain).",
    )
    override_reason = forms.CharField(
        label="Override reason",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="PROT-42: needed when an earlier course of this indication stopped after "
        "induction (non-responder).",
    )


class PhaseDecisionForm(forms.Form):
    to_phase = forms.ChoiceField(
        label="Decision: move to", choices=[("", "— choose —"), *Phase.choices]
    )
    extension_infusions = EdgeIntegerField(
        label="Extra induction infusions (when extending, PROT-23)",
        min_value=0,
        max_value=20,
        required=False,
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class ProtocolForm(forms.ModelForm):
    class Meta:
        model = Protocol
        fields = list(PROTOCOL_EDITABLE)
        labels = {"checkin_schedule": "Check-ins between visits"}
        help_texts = {
            "checkin_schedule": "Issue 18: per phase, the questionnaires due at home and how many "
            'days apart, e.g. {"induction": [{"instrument": "PHQ-9", "every_days": 7}], '
            '"maintenance": [{"instrument": "PHQ-9", "every_days": 14}]}.'
        }
