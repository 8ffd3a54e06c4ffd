"""Initial schema: sections, every collection the API manages, admin credentials.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Collections share this layout: insertion order, the key (and lookup) columns, the entity as JSON.
_KEYED = {
    "clients": [("name", True), ("addr", False)],
    "peer_flags": [("path", True)],
    "proxies": [("id", True)],
    "rules": [("id", True)],
    "wg_peers": [("name", True), ("public_key", False)],
}


def upgrade() -> None:
    op.create_table(
        "sections",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    for table, columns in _KEYED.items():
        op.create_table(
            table,
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
            *[sa.Column(name, sa.String(), nullable=False, unique=unique) for name, unique in columns],
            sa.Column("data", sa.JSON(), nullable=False),
        )
    op.create_index("ix_clients_addr", "clients", ["addr"])
    op.create_index("ix_wg_peers_public_key", "wg_peers", ["public_key"])
    op.create_table(
        "users",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(), nullable=False, unique=True),
        sa.Column("username", sa.String(), nullable=False, unique=True),
        sa.Column("traffic_used", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_table(
        "api_sessions",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_api_sessions_expires_at", "api_sessions", ["expires_at"])
    op.create_table(
        "api_tokens",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_table(
        "admin",
        sa.Column("singleton", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("force_password_change", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in ("admin", "api_tokens", "api_sessions", "users", *reversed(_KEYED), "sections"):
        op.drop_table(table)
