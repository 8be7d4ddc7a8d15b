from django.apps import AppConfig


class WebsiteConfig(AppConfig):
    name = "infusionclinic.website"
    label = "website"
