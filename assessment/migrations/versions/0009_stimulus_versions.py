"""stimulus versions: one row per version of a shared case text (code, number), with author and change note

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), server_default=sa.text('1'), nullable=False))
        batch_op.add_column(sa.Column('change_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_stimulus_code'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_stimulus_code_number'), ['code', 'number'])
        batch_op.create_index(batch_op.f('ix_stimulus_code'), ['code'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_stimulus_created_by_id_user_account'),
            'user_account',
            ['created_by_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade():
    # Only one row per code fits the old schema: older versions keep their row under the code "CODE~vN".
    op.execute(
        "UPDATE stimulus SET code = code || '~v' || CAST(number AS VARCHAR(10)) WHERE number < "
        "(SELECT MAX(s2.number) FROM stimulus AS s2 WHERE s2.code = stimulus.code)"
    )
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_stimulus_created_by_id_user_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_stimulus_code'))
        batch_op.drop_constraint(batch_op.f('uq_stimulus_code_number'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_stimulus_code'), ['code'])
        batch_op.drop_column('created_by_id')
        batch_op.drop_column('change_note')
        batch_op.drop_column('number')
