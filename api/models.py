"""API keys for the Juhe-compatible endpoint: stored hashed, with expiry, revocation and a daily quota."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta

from django.db import models, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PREFIX_LENGTH = 8


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def lookup(self, raw: str) -> ApiKey | None:
        raw = (raw or "").strip()
        if not raw or len(raw) > 200:
            return None
        return self.filter(key_hash=hash_key(raw)).first()


class ApiKey(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", _("active")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    name = models.CharField(_("name"), max_length=100, help_text=_("who uses this key"))
    prefix = models.CharField(_("key starts with"), max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    expires = models.DateTimeField(_("expires"), null=True, blank=True, help_text=_("empty: never"))
    revoked = models.BooleanField(_("revoked"), default=False)
    daily_quota = models.PositiveIntegerField(
        _("daily quota"), null=True, blank=True, help_text=_("requests per day (UTC); empty: unlimited")
    )
    last_used = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, *, daily_quota: int | None = None, expires_days: int | None = None) -> tuple[ApiKey, str]:
        """A new key; the raw key is returned once and never stored."""
        raw = secrets.token_hex(16)  # 32 hex characters, like a Juhe key
        key = cls(name=name, daily_quota=daily_quota)
        key.set_raw_key(raw)
        if expires_days is not None:
            key.expires = timezone.now() + timedelta(days=expires_days)
        key.save()
        return key, raw

    def set_raw_key(self, raw: str) -> None:
        self.prefix = raw[:PREFIX_LENGTH]
        self.key_hash = hash_key(raw)

    def state(self) -> State:
        if self.revoked:
            return self.State.REVOKED
        if self.expires is not None and self.expires <= timezone.now():
            return self.State.EXPIRED
        return self.State.ACTIVE

    def consume(self, today: date | None = None) -> bool:
        """Count one request for today; False (and counted as refused) when the daily quota is used up."""
        today = today or timezone.now().date()
        with transaction.atomic():
            usage, _created = ApiKeyUsage.objects.get_or_create(api_key=self, day=today)
            accepted = ApiKeyUsage.objects.filter(pk=usage.pk)
            if self.daily_quota is not None:
                accepted = accepted.filter(requests__lt=self.daily_quota)
            if accepted.update(requests=F("requests") + 1):
                ApiKey.objects.filter(pk=self.pk).update(last_used=timezone.now())
                return True
            ApiKeyUsage.objects.filter(pk=usage.pk).update(refused=F("refused") + 1)
            return False

    def requests_today(self) -> int:
        usage = self.usage.filter(day=timezone.now().date()).first()
        return usage.requests if usage else 0

    def requests_total(self) -> int:
        return self.usage.aggregate(total=Sum("requests"))["total"] or 0


class ApiKeyUsage(models.Model):
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField(_("day"))
    requests = models.PositiveIntegerField(_("requests"), default=0)
    refused = models.PositiveIntegerField(_("refused over quota"), default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["api_key", "day"], name="one_usage_row_per_key_and_day")]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.day}: {self.requests}"
