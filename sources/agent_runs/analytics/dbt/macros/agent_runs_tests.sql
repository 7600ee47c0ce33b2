{#- The package's generic tests (dbt_utils has some of these; a package without dependencies
    builds where dbt hub cannot be reached). Each returns the rows that break the rule. -#}

{% test agent_runs_unique_together(model, columns) %}
{#- No two rows share these columns' values. -#}
select {{ columns | join(', ') }}, count(*) as rows_sharing
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test agent_runs_has_parent(model, columns, parent) %}
{#- Every row's `columns` are a row of `parent` (a relationship on a key of several columns). -#}
select {% for column in columns %}child.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from {{ model }} as child
left join {{ parent }} as parent
  on {% for column in columns %}parent.{{ column }} = child.{{ column }}{{ " and " if not loop.last }}{% endfor %}
where parent.{{ columns[0] }} is null
{% endtest %}

{% test agent_runs_numbered_from_zero(model, group_by, column) %}
{#- Within each group, `column` is 0, 1, ... n - 1: no gap, no repeat. -#}
select {{ group_by | join(', ') }}, min({{ column }}) as first_number, max({{ column }}) as last_number,
       count(*) as numbered, count(distinct {{ column }}) as distinct_numbers
from {{ model }}
group by {{ group_by | join(', ') }}
having min({{ column }}) <> 0 or max({{ column }}) <> count(*) - 1 or count(distinct {{ column }}) <> count(*)
{% endtest %}

{% test agent_runs_not_before(model, column, other) %}
{#- `column` is never before `other` where both are set. -#}
select *
from {{ model }}
where {{ column }} is not null and {{ other }} is not null and {{ column }} < {{ other }}
{% endtest %}

{% test agent_runs_loaded_within(model, column) %}
{#- The newest completed load is recent: level 1 when it is older than the warning threshold,
    2 when older than the error threshold (hours, from vars); no completed load at all is 2. -#}
{{ config(severity='error', fail_calc='coalesce(max(level), 0)', warn_if='>= 1', error_if='>= 2') }}
{%- set now = dbt.current_timestamp() -%}
{%- set warn_before = dbt.dateadd('hour', -(var('agent_runs_warn_after_hours') | int), now) -%}
{%- set error_before = dbt.dateadd('hour', -(var('agent_runs_error_after_hours') | int), now) -%}
with newest as (
    select max({{ column }}) as loaded_at from {{ model }} where status = 0
)
select
    case when loaded_at is null or loaded_at < {{ error_before }} then 2 else 1 end as level,
    loaded_at
from newest
where loaded_at is null or loaded_at < {{ warn_before }} or loaded_at < {{ error_before }}
{% endtest %}
