from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "infusionclinic.courses"
    label = "courses"
    verbose_name = "Treatment courses"
