"""item exposure events: append-only administrations, moved into item.times_administered by the finaliser

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 07:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "item_exposure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("version_marked", sa.Boolean(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempt.id"],
            name=op.f("fk_item_exposure_attempt_id_attempt"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_item_exposure_item_id_item"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["item_version.id"],
            name=op.f("fk_item_exposure_version_id_item_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_exposure")),
    )


def downgrade():
    # events not yet moved into the counters are moved now, so that no administration is lost
    op.execute(
        "UPDATE item SET times_administered = times_administered + "
        "(SELECT COUNT(*) FROM item_exposure WHERE item_exposure.item_id = item.id)"
    )
    op.execute(
        "UPDATE item_version SET times_administered = times_administered + "
        "(SELECT COUNT(*) FROM item_exposure WHERE item_exposure.version_id = item_version.id "
        "AND NOT item_exposure.version_marked)"
    )
    op.drop_table("item_exposure")
