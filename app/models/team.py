"""The team: accounts with roles, browser sessions, API tokens, the rubric and review queues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped

# Each role can do everything the roles before it can.
ROLES = ("viewer", "rater", "admin")


class User(Timestamped, Base):
    """A person. No password yet means invited: the invite link lets them choose one."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="rater")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    invite_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(Timestamped, Base):
    """A signed-in browser; only the SHA-256 of the cookie value is stored, so a leaked table logs no one in."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Timestamped, Base):
    """A REST credential; only its SHA-256 is stored. It acts as its user (no user: the bootstrap admin)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user: Mapped[User | None] = relationship(lazy="joined")


class RubricDimension(Base):
    """One thing raters score 1-5 (correctness, helpfulness, format by default)."""

    __tablename__ = "rubric_dimensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ReviewQueue(Timestamped, Base):
    """Comparisons an admin wants rated by `raters_per_item` different people each."""

    __tablename__ = "review_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    raters_per_item: Mapped[int] = mapped_column(Integer, default=3)
    # Blind raters see each answer only once all are in: how fast an answer streams can give its variant away.
    reveal_together: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_by: Mapped[str] = mapped_column(String(120), default="")
    items: Mapped[list[ReviewQueueItem]] = relationship(
        cascade="all, delete-orphan", order_by="ReviewQueueItem.position"
    )


class ReviewQueueItem(Base):
    __tablename__ = "review_queue_items"
    __table_args__ = (UniqueConstraint("queue_id", "comparison_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"), index=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
