from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "infusionclinic.newsletter"
    label = "newsletter"
