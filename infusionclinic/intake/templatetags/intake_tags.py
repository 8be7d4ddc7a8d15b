from django import template

from infusionclinic.accounts.roles import Perm

register = template.Library()


@register.filter
def role_can(user: object, perm: str) -> bool:
    """{% if user|role_can:"intake.view_screening" %}: the roles table, in a template."""
    check = getattr(user, "has_role_perm", None)
    return bool(check and check(Perm(perm)))
