"""Response models of the analytics API (names and meanings from API.md)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from analytics.adapters.rebuild_log import RebuildRecord
from analytics.application.consumers import ConsumerStatus
from analytics.domain import engagement, kpis, retention


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class GroupOut(_Out):
    """A group's retention; values null when ``suppressed``."""

    headcount: int | None = Field(description="Members employed at the window's start.")
    retained: int | None = Field(description="Of them, those not departed by as_of.")
    rate: float | None = Field(description="retained / headcount, 4 decimals.")
    suppressed: bool

    @classmethod
    def of(cls, group: retention.Group) -> GroupOut:
        return cls(
            headcount=group.headcount,
            retained=group.retained,
            rate=group.rate,
            suppressed=group.suppressed,
        )


class ParticipantsOut(_Out):
    mentors: int
    mentees: int


class PairsOut(_Out):
    formed: int
    active: int
    ended: int


class SessionsOut(_Out):
    held: int
    per_active_pair_per_month: float | None
    mean_minutes: float | None


class GoalsOut(_Out):
    set: int
    achieved: int
    achievement_rate: float | None


class SatisfactionOut(_Out):
    responses: int | None
    mean_rating: float | None
    nps: float | None
    suppressed: bool
    nps_responses: int | None = Field(description="Answers that carry an NPS score.")
    nps_suppressed: bool = Field(description="Too few NPS answers: nps is withheld.")


class TargetOut(_Out):
    metric: str
    target: float
    actual: float | None = Field(description="Null for an unknown metric or a suppressed one.")
    met: bool | None
    higher_is_better: bool | None


class KpisOut(_Out):
    program_id: str
    as_of: date
    participants: ParticipantsOut
    pairs: PairsOut
    match_rate: float | None
    median_days_to_match: float | None
    sessions: SessionsOut
    goals: GoalsOut
    satisfaction: SatisfactionOut
    targets: list[TargetOut] = Field(description="Each KPI target of the program and its actual.")

    @classmethod
    def of(cls, k: kpis.ProgramKpis) -> KpisOut:
        s = k.satisfaction
        return cls(
            program_id=k.program_id,
            as_of=k.as_of,
            participants=ParticipantsOut(
                mentors=k.participants.mentors, mentees=k.participants.mentees
            ),
            pairs=PairsOut(formed=k.pairs.formed, active=k.pairs.active, ended=k.pairs.ended),
            match_rate=k.match_rate,
            median_days_to_match=k.median_days_to_match,
            sessions=SessionsOut(
                held=k.sessions.held,
                per_active_pair_per_month=k.sessions.per_active_pair_per_month,
                mean_minutes=k.sessions.mean_minutes,
            ),
            goals=GoalsOut(
                set=k.goals.set,
                achieved=k.goals.achieved,
                achievement_rate=k.goals.achievement_rate,
            ),
            satisfaction=SatisfactionOut(
                responses=s.responses,
                mean_rating=s.mean_rating,
                nps=s.nps,
                suppressed=s.suppressed,
                nps_responses=s.nps_responses,
                nps_suppressed=s.nps_suppressed,
            ),
            targets=[
                TargetOut(
                    metric=t.metric,
                    target=t.target,
                    actual=t.actual,
                    met=t.met,
                    higher_is_better=t.higher_is_better,
                )
                for t in k.targets
            ],
        )


class RetentionOut(_Out):
    program_id: str
    window_days: int
    window_start: date
    as_of: date
    mentees: GroupOut
    mentors: GroupOut
    non_participants: GroupOut

    @classmethod
    def of(cls, program_id: str, window_days: int, r: retention.ProgramRetention) -> RetentionOut:
        return cls(
            program_id=program_id,
            window_days=window_days,
            window_start=r.window.start,
            as_of=r.window.as_of,
            mentees=GroupOut.of(r.mentees),
            mentors=GroupOut.of(r.mentors),
            non_participants=GroupOut.of(r.non_participants),
        )


class OrganisationGroupOut(_Out):
    key: str | None = Field(description="The group's value (e.g. the department); null: unknown.")
    participants: GroupOut
    non_participants: GroupOut


class OrganisationRetentionOut(_Out):
    group_by: str
    window_days: int
    window_start: date
    as_of: date
    groups: list[OrganisationGroupOut]

    @classmethod
    def of(
        cls,
        group_by: str,
        window: retention.Window,
        window_days: int,
        groups: list[retention.OrganisationGroup],
    ) -> OrganisationRetentionOut:
        return cls(
            group_by=group_by,
            window_days=window_days,
            window_start=window.start,
            as_of=window.as_of,
            groups=[
                OrganisationGroupOut(
                    key=g.key,
                    participants=GroupOut.of(g.participants),
                    non_participants=GroupOut.of(g.non_participants),
                )
                for g in groups
            ],
        )


class AtRiskPairOut(_Out):
    pair_id: str
    reasons: list[str] = Field(
        description="no_recent_session | no_session_yet | low_ratings | failed_fit_check"
    )
    last_session_on: date | None

    @classmethod
    def of(cls, pair: engagement.AtRiskPair) -> AtRiskPairOut:
        return cls(
            pair_id=pair.pair_id,
            reasons=[str(r) for r in pair.reasons],
            last_session_on=pair.last_session_on,
        )


class AtRiskPage(_Out):
    items: list[AtRiskPairOut]
    next_cursor: str | None = None


class MonthOut(_Out):
    month: str = Field(description="YYYY-MM")
    sessions_held: int
    session_minutes: int
    checkins: int
    responses: int | None
    mean_rating: float | None
    nps: float | None
    suppressed: bool = Field(description="Fewer responses than the threshold that month.")

    @classmethod
    def of(cls, m: engagement.Month) -> MonthOut:
        return cls(
            month=m.month,
            sessions_held=m.sessions_held,
            session_minutes=m.session_minutes,
            checkins=m.checkins,
            responses=m.responses,
            mean_rating=m.mean_rating,
            nps=m.nps,
            suppressed=m.suppressed,
        )


class MonthlyOut(_Out):
    program_id: str
    as_of: date
    items: list[MonthOut]


class RebuildOut(_Out):
    rebuild_id: str
    read_model: str
    status: str = Field(description="pending | running | swapped | failed")
    source: str | None = Field(description="jetstream | feed | empty")
    events: int = Field(description="Events applied so far.")
    expected_events: int | None = Field(description="Messages in the source when it began.")
    duplicates: int | None
    error: str | None
    requested_by: str | None
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    abandoned: bool = Field(description="Pending or running, but its process stopped beating.")

    @classmethod
    def of(cls, r: RebuildRecord) -> RebuildOut:
        return cls(
            rebuild_id=r.rebuild_id,
            read_model=r.read_model,
            status=r.status,
            source=r.source,
            events=r.events,
            expected_events=r.expected_events,
            duplicates=r.duplicates,
            error=r.error,
            requested_by=r.requested_by,
            started_at=r.started_at,
            heartbeat_at=r.heartbeat_at,
            finished_at=r.finished_at,
            abandoned=r.abandoned,
        )


class RebuildsOut(_Out):
    items: list[RebuildOut]


class ReadModelOut(_Out):
    name: str
    source: str
    tables: list[str]


class ConsumerOut(_Out):
    read_model: str
    source: str
    consumer: str
    stream: str
    state: str
    paused: bool
    error: str | None
    stream_first_sequence: int | None
    stream_last_sequence: int | None
    position: int = Field(description="Last source sequence processed (consumer or rebuild).")
    lag: int | None = Field(description="Source messages after position.")
    pending: int | None = Field(description="Messages JetStream has not delivered yet.")
    ack_pending: int | None
    handled_events: int = Field(description="Events applied (sum of per-aggregate versions).")

    @classmethod
    def of(cls, s: ConsumerStatus) -> ConsumerOut:
        return cls(
            read_model=s.read_model,
            source=s.source,
            consumer=s.consumer,
            stream=s.stream,
            state=str(s.state),
            paused=s.paused,
            error=s.error,
            stream_first_sequence=s.stream_first_sequence,
            stream_last_sequence=s.stream_last_sequence,
            position=s.position,
            lag=s.lag,
            pending=s.pending,
            ack_pending=s.ack_pending,
            handled_events=s.handled_events,
        )


class ConsumersOut(_Out):
    items: list[ConsumerOut]


class ReadModelsOut(_Out):
    items: list[ReadModelOut]
