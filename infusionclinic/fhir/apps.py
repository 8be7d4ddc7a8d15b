from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "infusionclinic.fhir"
    label = "fhir"
