"""A transactional test (the browser, the SMTP worker) starts from tables that the test before it
emptied; these put back the rows the migrations seed and the code relies on."""

from infusionclinic.audit.hashing import GENESIS_HASH
from infusionclinic.audit.models import AuditChainHead
from infusionclinic.website.models import Page, PageVersion
from infusionclinic.website.pages import seed_pages


def reseed_migration_rows() -> None:
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "last_hash": GENESIS_HASH})
    seed_pages(Page, PageVersion)
