from typing import Any

from django import template

from ..forms import SubscribeForm

register = template.Library()


@register.inclusion_tag("newsletter/_signup_form.html", takes_context=True)
def newsletter_signup_form(context: template.Context) -> dict[str, Any]:
    """The footer sign-up form on every public page (ids prefixed so a page that shows another
    form with an email field keeps its ids unique)."""
    return {"form": SubscribeForm(auto_id="signup_%s"), "csrf_token": context.get("csrf_token")}
