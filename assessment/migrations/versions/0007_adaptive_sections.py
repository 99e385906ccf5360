"""adaptive sections: the CAT session state and step counter of an attempt's section

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attempt_section', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adaptive_state', sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column('adaptive_step', sa.Integer(), server_default=sa.text('0'), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('attempt_section', schema=None) as batch_op:
        batch_op.drop_column('adaptive_step')
        batch_op.drop_column('adaptive_state')
