from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "infusionclinic.messaging"
    label = "messaging"
    verbose_name = "Secure messaging"
