from django.apps import AppConfig


class ControlledConfig(AppConfig):
    name = "infusionclinic.controlled"
    label = "controlled"
    verbose_name = "Controlled substances"

    def ready(self) -> None:
        from . import retention

        retention.connect()  # CS-46: no CS record is deleted before its retention ran out
        retention.conf.retention_years()  # CS-6/CS-7: a setting below the federal floor fails
