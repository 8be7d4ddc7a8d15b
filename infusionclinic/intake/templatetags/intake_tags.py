from django import template

from infusionclinic.accounts.roles import Perm

register = template.Library()


@register.filter
def role_can(user: object, perm: str) -> bool:
    """{% if user|role_can:"intake.view_screening" %}: the roles table, in a template."""
    check = getattr(user, "has_role_perm", None)
    return bool(check and check(Perm(perm)))


@register.simple_tag(takes_context=True)
def intake_chart_offers(context: template.Context, patient: object) -> list:
    """{% intake_chart_offers patient as offers %}: issue 21 point 3, what the intake and the
    referrals offer to the chart that the signed-in user is shown, with whether they may accept
    it. `patient` is the one the view read through `patient_get_for_user`."""
    from infusionclinic.intake.chart_offers import intake_chart_offers as offers_for

    user = context.get("user")
    if user is None or not getattr(user, "is_clinic_staff", False):
        return []
    return offers_for(user=user, patient=patient)
