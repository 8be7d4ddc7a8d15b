from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "infusionclinic.patients"
    label = "patients"
