from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "infusionclinic.accounts"
    label = "accounts"
