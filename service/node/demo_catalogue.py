"""The demo's three fictional organisations, their datasets and tables, and the gaps built in.

Declarative only: `service.node.demo` turns each `DemoTable` into cells. The story these
declarations tell is in that module's docstring; `DESIGNED_GAPS` and `POOLABLE_TABLES` state it
as data, and the tests check it against the generated rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from auth.levels import Level

Dimension = Literal["sex", "age", "disability_status", "urbanisation", "income_wealth_quantile"]
Unit = Literal["PERCENT", "NUMBER", "RATE", "MEAN", "SCORE"]
GapStatus = Literal["NO_DATA", "STALE", "SINGLE_SOURCE", "COVERED"]


@dataclass(frozen=True, slots=True)
class DemoDataset:
    slug: str
    title: str
    methodology: str
    collection_period: str
    licence: str
    contact: str
    release_level: Level
    discovery_level: Level
    published: bool


@dataclass(frozen=True, slots=True)
class DemoOrganisation:
    node_id: str
    name: str
    organisation: str
    datasets: tuple[DemoDataset, ...]


@dataclass(frozen=True, slots=True)
class DemoTable:
    """One indicator measured in some countries, periods and groups, with a cross-tabulation.

    Every combination of the `breakdown` codes is drawn, then every margin (the `_T` totals) is
    summed from them, so a table always adds up. With `sub_areas` the national cells are the sum
    of the sub-national ones. `level` is the typical value for everyone in a country: a
    proportion (0-1) for PERCENT and NUMBER, per 1,000 for RATE, 0-100 for SCORE, the mean
    itself for MEAN.
    """

    indicator: str
    series: str
    unit: Unit
    areas: tuple[str, ...]
    periods: tuple[str, ...]
    level: Mapping[str, float]
    base_n: int  # sample behind the national `_T` group cell in one period
    higher_is_better: bool = True
    groups: tuple[str, ...] = ("_T",)  # kept only where GROUP_COUNTRIES makes them plausible
    breakdown: tuple[Dimension, ...] = ()
    ages: Mapping[str, float] = field(default_factory=dict)  # age code -> population share
    age_gap: Mapping[str, float] = field(default_factory=dict)  # age code -> disadvantage
    female_gap: float = 0.15  # disadvantage of women over men, on the logit scale
    fixed: tuple[tuple[Dimension, str], ...] = ()  # dimensions held at one code (5.2.1: sex F)
    sub_areas: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_gaps: bool = True  # False when `level` is already the level of the only group
    trend: float = 0.0  # improvement per year on the logit scale
    small_cells: int = 0  # tables forced to hold exactly one cell with n below 10
    confidence: bool = False  # write 95% Wilson intervals in lower/upper (PERCENT only)
    provisional: tuple[str, ...] = ()  # periods whose cells carry OBS_STATUS P
    note: str = ""
    # A second series holding the PERCENT cells' numerators as counts (2.1.2's AG_PRD_FIESMSN).
    count_series: str = ""


@dataclass(frozen=True, slots=True)
class DesignedGap:
    """An indicator x country x group cell of the gap-analysis frame, built to have one status."""

    indicator: str
    ref_area: str
    group: str
    status: GapStatus
    organisations: tuple[str, ...]  # node ids holding any data on it


@dataclass(frozen=True, slots=True)
class PoolableTable:
    """Cells several organisations hold with the same definition, so a coordinator can pool them."""

    indicator: str
    series: str
    unit: Unit
    ref_area: str
    time_period: str
    group: str
    breakdown: tuple[Dimension, ...]
    organisations: tuple[str, ...]


ALL = ("BGD", "IND", "KEN", "MWI", "NPL", "VNM")
# Where a demo table may hold a group at all: Dalit communities are a South Asian reality,
# the large refugee and IDP populations are in Kenya, Malawi and Cox's Bazar, and so on.
GROUP_COUNTRIES: Mapping[str, tuple[str, ...]] = {
    "_T": ALL,
    "PWD": ALL,
    "ETHNIC_MIN": ("BGD", "KEN", "NPL", "VNM"),
    "INDIGENOUS": ("BGD", "IND", "KEN", "NPL"),
    "DALIT": ("IND", "NPL"),
    "RELIGIOUS_MIN": ("BGD", "IND"),
    "LGBTIQ": ("IND", "KEN", "NPL", "VNM"),
    "SLUM": ("BGD", "IND", "KEN", "MWI"),
    "REFUGEE_IDP": ("BGD", "KEN", "MWI"),
    "MIGRANT": ("BGD", "IND", "NPL", "VNM"),
    "OLDER": ALL,
    "YOUTH": ALL,
    "PLHIV": ("IND", "KEN", "MWI"),
    "LANDLESS": ("BGD", "IND", "MWI", "NPL"),
}

BGD_DIVISIONS = tuple(f"BD-{letter}" for letter in "ABCDEFGH")
IND_STATES = ("IN-BR", "IN-UP", "IN-OD", "IN-JH", "IN-MH", "IN-TN")
KEN_COUNTIES = tuple(f"KE-{number:02d}" for number in range(1, 48))
# Nairobi, Mombasa, Kisumu, Turkana (Kakuma), Garissa (Dadaab), Kilifi.
KEN_PROGRAMME = ("KE-30", "KE-28", "KE-17", "KE-43", "KE-07", "KE-14")
KEN_ARID = ("KE-43", "KE-37", "KE-07", "KE-25")  # Turkana, Samburu, Garissa, Marsabit
MWI_REGIONS = ("MW-N", "MW-C", "MW-S")
MWI_DISTRICTS = (
    "MW-BA", "MW-BL", "MW-CK", "MW-CR", "MW-CT", "MW-DE", "MW-DO", "MW-KR", "MW-KS", "MW-LI",
    "MW-LK", "MW-MC", "MW-MG", "MW-MH", "MW-MU", "MW-MW", "MW-MZ", "MW-NB", "MW-NE", "MW-NI",
    "MW-NK", "MW-NS", "MW-NU", "MW-PH", "MW-RU", "MW-SA", "MW-TH", "MW-ZO",
)  # fmt: skip
NPL_PROVINCES = tuple(f"NP-P{number}" for number in range(1, 8))
VNM_PROVINCES = (
    "VN-HN",
    "VN-SG",
    "VN-02",
    "VN-03",
    "VN-33",
)  # Hanoi, HCMC, Lao Cai, Ha Giang, Dak Lak

ADULTS = {"Y15T24": 0.28, "Y25T64": 0.6, "Y_GE65": 0.12}
WORKING_AGE = {"Y15T24": 0.3, "Y25T64": 0.7}
WOMEN_15_49 = {"Y15T19": 0.2, "Y20T24": 0.18, "Y25T34": 0.3, "Y35T49": 0.32}
UNDER_FIVE = {"Y0": 0.2, "Y1T4": 0.8}
DISABILITY_AGES = {"Y0T14": 0.15, "Y15T64": 0.55, "Y_GE65": 0.3}

# Share of a country's sample living in urban areas, roughly the national urbanisation rate.
URBAN_SHARE: Mapping[str, float] = {
    "BGD": 0.4, "IND": 0.36, "KEN": 0.29, "MWI": 0.18, "NPL": 0.22, "VNM": 0.39,
}  # fmt: skip
# A group's sample as a share of the whole sample: groups are oversampled where that is the point.
GROUP_SAMPLE_SHARE: Mapping[str, float] = {
    "_T": 1.0, "PWD": 0.15, "ETHNIC_MIN": 0.2, "INDIGENOUS": 0.15, "DALIT": 0.25,
    "RELIGIOUS_MIN": 0.18, "LGBTIQ": 0.04, "SLUM": 0.3, "REFUGEE_IDP": 0.2, "MIGRANT": 0.12,
    "OLDER": 0.12, "YOUTH": 0.25, "PLHIV": 0.06, "LANDLESS": 0.25,
}  # fmt: skip
# How much worse off a group is than everyone, on the logit scale (0.5 is about 10 points at 50%).
GROUP_DISADVANTAGE: Mapping[str, float] = {
    "_T": 0.0, "PWD": 0.5, "ETHNIC_MIN": 0.4, "INDIGENOUS": 0.5, "DALIT": 0.6,
    "RELIGIOUS_MIN": 0.3, "LGBTIQ": 0.6, "SLUM": 0.45, "REFUGEE_IDP": 0.7, "MIGRANT": 0.3,
    "OLDER": 0.3, "YOUTH": 0.2, "PLHIV": 0.4, "LANDLESS": 0.55,
}  # fmt: skip

EG, CV, LL = "riverbend", "commons-voice", "lantern"

_EG_VOICE = DemoDataset(
    slug="voice-and-inclusion-survey-2024",
    title="Voice and Inclusion Survey 2024",
    methodology=(
        "Community-driven household survey: enumerators recruited from the communities "
        "surveyed; group membership self-identified; disability by the Washington Group short set"
    ),
    collection_period="2024-02 to 2024-06",
    licence="CC BY 4.0",
    contact="data@riverbend.example.org",
    release_level=Level.PUBLIC,
    discovery_level=Level.PUBLIC,
    published=False,
)
_EG_VOICE_AREAS = ("BGD", "IND", "KEN", "NPL")
_EG_VOICE_SUB_AREAS = {
    "BGD": BGD_DIVISIONS, "IND": IND_STATES, "KEN": KEN_PROGRAMME, "NPL": NPL_PROVINCES,
}  # fmt: skip
_EG_VOICE_TABLES = (
    DemoTable(
        indicator="10.3.1",
        series="",
        unit="PERCENT",
        areas=_EG_VOICE_AREAS,
        periods=("2024",),
        level={"BGD": 0.18, "IND": 0.22, "KEN": 0.15, "NPL": 0.2},
        base_n=4000,
        higher_is_better=False,
        groups=("_T", "DALIT", "ETHNIC_MIN", "INDIGENOUS", "RELIGIOUS_MIN", "PWD"),
        breakdown=("sex", "urbanisation"),
        sub_areas=_EG_VOICE_SUB_AREAS,
        small_cells=3,
    ),
    DemoTable(
        indicator="16.7.2",
        series="IU_DMK_ICRS",
        unit="PERCENT",
        areas=_EG_VOICE_AREAS,
        periods=("2024",),
        level={"BGD": 0.35, "IND": 0.42, "KEN": 0.27, "NPL": 0.3},
        base_n=4000,
        breakdown=("sex", "age"),
        ages=ADULTS,
        age_gap={"Y15T24": 0.25, "Y_GE65": 0.15},
        female_gap=0.3,
    ),
    DemoTable(
        indicator="16.7.2",
        series="IU_DMK_ICRS",
        unit="PERCENT",
        areas=_EG_VOICE_AREAS,
        periods=("2024",),
        level={"BGD": 0.35, "IND": 0.42, "KEN": 0.27, "NPL": 0.3},
        base_n=4000,
        groups=("DALIT", "ETHNIC_MIN", "INDIGENOUS", "RELIGIOUS_MIN", "PWD"),
        breakdown=("sex",),
        female_gap=0.3,
        small_cells=1,
    ),
    DemoTable(
        indicator="1.3.1",
        series="SI_COV_SOCAST",
        unit="PERCENT",
        areas=_EG_VOICE_AREAS,
        periods=("2024",),
        level={"BGD": 0.3, "IND": 0.4, "KEN": 0.14, "NPL": 0.22},
        base_n=4000,
        groups=("_T", "PWD", "OLDER", "DALIT", "INDIGENOUS"),
        breakdown=("sex",),
        small_cells=1,
    ),
    DemoTable(
        indicator="3.7.2",
        series="SP_DYN_ADKL",
        unit="RATE",
        areas=_EG_VOICE_AREAS,
        periods=("2024",),
        level={"BGD": 74.0, "IND": 16.0, "KEN": 70.0, "NPL": 63.0},
        base_n=520,  # women aged 15-19 in the surveyed households
        higher_is_better=False,
        groups=("_T", "DALIT", "ETHNIC_MIN", "INDIGENOUS", "RELIGIOUS_MIN"),
        breakdown=("urbanisation",),
        fixed=(("sex", "F"), ("age", "Y15T19")),
        note="Births in the 12 months before the interview per 1,000 women aged 15-19",
    ),
)

_EG_LAND = DemoDataset(
    slug="land-rights-scorecard",
    title="Land rights scorecard: Dalit and Adivasi communities",
    methodology=(
        "Community scorecard: village assemblies score the documentation and security of land "
        "rights; household tallies checked against land records"
    ),
    collection_period="2021-10 to 2021-12; 2023-10 to 2023-12",
    licence="Coalition members only, under the LNOB data-sharing agreement",
    contact="land@riverbend.example.org",
    release_level=Level.COALITION,
    discovery_level=Level.PUBLIC,
    published=False,
)
_EG_LAND_TABLES = tuple(
    DemoTable(
        indicator="1.4.2",
        series=series,
        unit="PERCENT",
        areas=(area,),
        periods=("2021", "2023"),
        level={area: level},
        base_n=3000,
        groups=groups,
        breakdown=("sex",),
        female_gap=0.6,
        sub_areas={"IND": IND_STATES, "NPL": NPL_PROVINCES},
        trend=0.05,
        small_cells=1,
    )
    for area, groups, levels in (
        ("IND", ("_T", "DALIT", "INDIGENOUS"), (0.42, 0.55)),
        ("NPL", ("_T", "DALIT"), (0.48, 0.6)),
    )
    for series, level in zip(("SP_LGL_LNDDOC", "SP_LGL_LNDSEC"), levels, strict=True)
)

_EG_IPV = DemoDataset(
    slug="ipv-prevalence-2014-2016",
    title="Intimate partner violence prevalence, pooled rounds 2014-2016",
    methodology=(
        "Community-driven survey with women peer interviewers (WHO multi-country study "
        "questions), three annual rounds pooled; findings validated in women's focus groups"
    ),
    collection_period="2014-11 to 2016-12",
    licence="Internal use only; coalition members may see that the data exist",
    contact="safeguarding@riverbend.example.org",
    release_level=Level.OWNER,
    discovery_level=Level.COALITION,
    published=False,
)
_EG_IPV_TABLES = tuple(
    DemoTable(
        indicator="5.2.1",
        series=series,
        unit="PERCENT",
        areas=("BGD", "NPL"),
        periods=("2014/2016",),
        level=level,
        base_n=2500,
        higher_is_better=False,
        groups=("_T", "RELIGIOUS_MIN", "ETHNIC_MIN", "DALIT", "INDIGENOUS"),
        breakdown=("age",),
        ages=WOMEN_15_49,
        age_gap={"Y15T19": 0.2, "Y20T24": 0.25, "Y25T34": 0.1, "Y35T49": -0.2},
        fixed=(("sex", "F"),),
        sub_areas={"BGD": BGD_DIVISIONS, "NPL": NPL_PROVINCES},
        small_cells=2,
        note="Ever-partnered women aged 15-49; violence in the previous 12 months",
    )
    for series, level in (
        ("VC_VAW_MARR", {"BGD": 0.27, "NPL": 0.11}),
        ("VC_VAW_PHYV", {"BGD": 0.21, "NPL": 0.09}),
        ("VC_VAW_SEXV", {"BGD": 0.13, "NPL": 0.05}),
    )
)

_EG_LGBTIQ = DemoDataset(
    slug="lgbtiq-safety-check",
    title="LGBTIQ+ safety and services check",
    methodology=(
        "Respondent-driven sampling through community-based organisations of LGBTIQ+ people; "
        "self-completed on a secure phone survey"
    ),
    collection_period="2023-05 to 2023-08; 2025-04 to 2025-07",
    licence="Internal use only",
    contact="safety@riverbend.example.org",
    release_level=Level.OWNER,
    discovery_level=Level.OWNER,
    published=False,
)
_EG_LGBTIQ_TABLES = tuple(
    DemoTable(
        indicator=indicator,
        series=series,
        unit="PERCENT",
        areas=("IND", "KEN", "NPL"),
        periods=("2023", "2025"),
        level=level,
        base_n=3000,  # the LGBTIQ+ sample is GROUP_SAMPLE_SHARE of this
        higher_is_better=higher_is_better,
        groups=("LGBTIQ",),
        breakdown=("age",),
        ages={"Y15T24": 0.45, "Y25T64": 0.55},
        age_gap={"Y15T24": 0.2},
        sub_areas={"IND": IND_STATES, "KEN": ("KE-30", "KE-28", "KE-17"), "NPL": NPL_PROVINCES},
        group_gaps=False,
        small_cells=2,
    )
    for indicator, series, higher_is_better, level in (
        ("16.1.3", "VC_VOV_PHYL", False, {"IND": 0.2, "KEN": 0.25, "NPL": 0.16}),
        ("16.1.3", "VC_VOV_SEXL", False, {"IND": 0.12, "KEN": 0.14, "NPL": 0.09}),
        ("10.3.1", "", False, {"IND": 0.55, "KEN": 0.62, "NPL": 0.5}),
        ("16.6.2", "SP_PSR_SATIS_HLTH", True, {"IND": 0.35, "KEN": 0.3, "NPL": 0.42}),
    )
)

_EG_DISABILITY = DemoDataset(
    slug="disability-inclusion-audit-2024",
    title="Disability inclusion audit of social protection and work 2024",
    methodology=(
        "Community-driven survey of persons with and without disabilities (Washington Group "
        "short set), sampled through organisations of persons with disabilities and a household "
        "listing"
    ),
    collection_period="2024-07 to 2024-10",
    licence="Government partners and coalition members, under data-sharing agreements",
    contact="inclusion@riverbend.example.org",
    release_level=Level.GOVERNMENT,
    discovery_level=Level.GOVERNMENT,
    published=False,
)
_EG_DISABILITY_SUB_AREAS = {"BGD": BGD_DIVISIONS, "KEN": KEN_PROGRAMME, "NPL": NPL_PROVINCES}
_EG_DISABILITY_TABLES = (
    DemoTable(
        indicator="1.3.1",
        series="SI_COV_DISAB",
        unit="PERCENT",
        areas=("BGD", "KEN", "NPL"),
        periods=("2024",),
        level={"BGD": 0.36, "KEN": 0.09, "NPL": 0.3},
        base_n=20000,  # the sample of persons with disabilities is 15% of this
        groups=("PWD",),
        breakdown=("sex", "age"),
        ages=DISABILITY_AGES,
        age_gap={"Y0T14": 0.4, "Y_GE65": -0.2},
        sub_areas=_EG_DISABILITY_SUB_AREAS,
        group_gaps=False,
        small_cells=2,
    ),
    DemoTable(
        indicator="8.5.2",
        series="SL_TLF_UEMDIS_19ICLS",
        unit="PERCENT",
        areas=("BGD", "KEN", "NPL"),
        periods=("2024",),
        level={"BGD": 0.05, "KEN": 0.065, "NPL": 0.1},
        base_n=8000,
        higher_is_better=False,
        breakdown=("sex", "disability_status"),
        female_gap=0.3,
        sub_areas=_EG_DISABILITY_SUB_AREAS,
        small_cells=1,
    ),
)

_CV_LEARNING = DemoDataset(
    slug="citizen-learning-assessment",
    title="Citizen-led learning assessment, grades 2-3",
    methodology=(
        "Citizen-led household assessment: volunteers test every child aged 6-16 in sampled "
        "households one to one with grade 2 reading and numeracy tasks; results for children "
        "in grades 2-3"
    ),
    collection_period="2022-07 to 2022-09; 2024-07 to 2024-09",
    licence="CC BY 4.0",
    contact="learning@commons-voice.example.org",
    release_level=Level.PUBLIC,
    discovery_level=Level.PUBLIC,
    published=True,
)
_CV_LEARNING_TABLES = tuple(
    DemoTable(
        indicator="4.1.1",
        series=series,
        unit="PERCENT",
        areas=("KEN", "MWI"),
        periods=("2022", "2024"),
        level=level,
        base_n=40000,
        breakdown=("sex", "urbanisation", "income_wealth_quantile"),
        female_gap=female_gap,
        sub_areas={"KEN": KEN_COUNTIES, "MWI": MWI_DISTRICTS},
        trend=0.04,
        small_cells=4,
    )
    for series, level, female_gap in (
        ("Reading grades 2-3", {"KEN": 0.42, "MWI": 0.14}, -0.12),
        ("Mathematics grades 2-3", {"KEN": 0.48, "MWI": 0.19}, 0.05),
    )
)

_CV_HEALTH = DemoDataset(
    slug="community-health-scorecards",
    title="Community health scorecards 2023-2024",
    methodology=(
        "Community scorecard: users and health workers score tracer services (antenatal care, "
        "immunisation, HIV, hypertension), combined into a 0-100 index like the UHC index"
    ),
    collection_period="2023-03 to 2023-06; 2024-03 to 2024-06",
    licence="Government partners only, under agreements with county and district health offices",
    contact="health@commons-voice.example.org",
    release_level=Level.GOVERNMENT,
    discovery_level=Level.PUBLIC,
    published=False,
)
_CV_HEALTH_GROUPS = ("_T", "PLHIV", "PWD", "OLDER", "REFUGEE_IDP")
_CV_HEALTH_SUB_AREAS = {"KEN": KEN_PROGRAMME, "MWI": MWI_REGIONS}
_CV_HEALTH_TABLES = (
    DemoTable(
        indicator="3.8.1",
        series="SH_ACS_UNHC",
        unit="SCORE",
        areas=("KEN", "MWI"),
        periods=("2023", "2024"),
        level={"KEN": 55.0, "MWI": 48.0},
        base_n=4000,
        groups=_CV_HEALTH_GROUPS,
        breakdown=("sex", "urbanisation"),
        female_gap=-0.1,
        sub_areas=_CV_HEALTH_SUB_AREAS,
        trend=0.03,
        small_cells=2,
    ),
    DemoTable(
        indicator="16.6.2",
        series="SP_PSR_SATIS_HLTH",
        unit="PERCENT",
        areas=("KEN", "MWI"),
        periods=("2023", "2024"),
        level={"KEN": 0.52, "MWI": 0.48},
        base_n=4000,
        groups=_CV_HEALTH_GROUPS,
        breakdown=("sex",),
        female_gap=0.0,
        sub_areas=_CV_HEALTH_SUB_AREAS,
    ),
)

_CV_VOICE = DemoDataset(
    slug="citizen-voice-survey",
    title="Citizen voice and social protection survey",
    methodology=(
        "Community-driven survey in programme areas: household listing by community volunteers, "
        "one adult respondent per household"
    ),
    collection_period="2022-01 to 2022-03; 2024-01 to 2024-03",
    licence="CC BY 4.0",
    contact="voice@commons-voice.example.org",
    release_level=Level.PUBLIC,
    discovery_level=Level.PUBLIC,
    published=False,
)
_CV_VOICE_AREAS = ("BGD", "KEN", "MWI")
_CV_VOICE_SUB_AREAS = {"BGD": BGD_DIVISIONS, "KEN": KEN_PROGRAMME, "MWI": MWI_REGIONS}
_CV_VOICE_DMK = {"BGD": 0.33, "KEN": 0.29, "MWI": 0.31}
_CV_VOICE_TABLES = (
    DemoTable(
        indicator="1.3.1",
        series="SI_COV_SOCAST",
        unit="PERCENT",
        areas=_CV_VOICE_AREAS,
        periods=("2022", "2024"),
        level={"BGD": 0.28, "KEN": 0.16, "MWI": 0.21},
        base_n=3000,
        groups=("_T", "PWD", "OLDER"),
        breakdown=("sex",),
        sub_areas=_CV_VOICE_SUB_AREAS,
        small_cells=1,
    ),
    DemoTable(
        indicator="16.7.2",
        series="IU_DMK_ICRS",
        unit="PERCENT",
        areas=_CV_VOICE_AREAS,
        periods=("2022", "2024"),
        level=_CV_VOICE_DMK,
        base_n=3000,
        breakdown=("sex", "age"),
        ages=ADULTS,
        age_gap={"Y15T24": 0.2, "Y_GE65": 0.1},
        female_gap=0.25,
        sub_areas=_CV_VOICE_SUB_AREAS,
        small_cells=1,
    ),
    DemoTable(
        indicator="16.7.2",
        series="IU_DMK_ICRS",
        unit="PERCENT",
        areas=_CV_VOICE_AREAS,
        periods=("2022", "2024"),
        level=_CV_VOICE_DMK,
        base_n=3000,
        groups=("PWD", "OLDER", "YOUTH", "SLUM"),
        breakdown=("sex",),
        female_gap=0.25,
        sub_areas=_CV_VOICE_SUB_AREAS,
    ),
)

_CV_ENUMERATION = DemoDataset(
    slug="settlement-enumeration",
    title="Informal settlement and camp enumeration",
    methodology=(
        "Community-led enumeration: residents' federations list every household in the "
        "settlement or camp block and record birth registration and drinking-water source"
    ),
    collection_period="2024-08 to 2024-11; 2025-08 to 2025-11",
    licence="Coalition members only",
    contact="enumeration@commons-voice.example.org",
    release_level=Level.COALITION,
    discovery_level=Level.COALITION,
    published=False,
)
# Slums of Dhaka, Chattogram, Nairobi, Mombasa, Kisumu, Blantyre, Lilongwe and Mzuzu; the camps
# of Cox's Bazar, Kakuma, Dadaab and Dzaleka, and urban refugees in Nairobi.
_SETTLEMENTS = {
    "SLUM": {"BGD": ("BD-13", "BD-10"), "KEN": ("KE-30", "KE-28", "KE-17"),
             "MWI": ("MW-BL", "MW-LI", "MW-MZ")},
    "REFUGEE_IDP": {"BGD": ("BD-11",), "KEN": ("KE-43", "KE-07", "KE-30"), "MWI": ("MW-DO",)},
}  # fmt: skip
_CV_ENUMERATION_TABLES = tuple(
    table
    for group, sub_areas in _SETTLEMENTS.items()
    for table in (
        DemoTable(
            indicator="16.9.1",
            series="Children under 5 with birth registered (count)",
            unit="NUMBER",
            areas=("BGD", "KEN", "MWI"),
            periods=("2024", "2025"),
            level={"BGD": 0.5, "KEN": 0.72, "MWI": 0.6},
            base_n=12000,  # children under 5 enumerated, before the group's share
            groups=(group,),
            breakdown=("sex", "age"),
            ages=UNDER_FIVE,
            age_gap={"Y0": 0.6},
            female_gap=0.05,
            sub_areas=sub_areas,
            small_cells=1,
            note="n = children under 5 enumerated; value = those whose birth is registered",
        ),
        DemoTable(
            indicator="1.4.1",
            series="SP_ACS_BSRVH2O",
            unit="PERCENT",
            areas=("BGD", "KEN", "MWI"),
            periods=("2024", "2025"),
            level={"BGD": 0.9, "KEN": 0.7, "MWI": 0.72},
            base_n=40000,
            groups=(group,),
            breakdown=("sex",),
            female_gap=0.0,
            sub_areas=sub_areas,
        ),
    )
)

_LL_PANEL = DemoDataset(
    slug="rural-livelihoods-panel",
    title="Rural livelihoods panel 2022-2024",
    methodology=(
        "Household panel survey in programme districts, interviewed by community facilitators; "
        "labour-force questions follow the 19th ICLS"
    ),
    collection_period="2022-05 to 2022-08; 2024-05 to 2024-08",
    licence="CC BY 4.0",
    contact="panel@lantern.example.org",
    release_level=Level.PUBLIC,
    discovery_level=Level.PUBLIC,
    published=False,
)
_LL_PANEL_AREAS = ("BGD", "KEN", "NPL", "VNM")
_LL_PANEL_SUB_AREAS = {"NPL": NPL_PROVINCES, "VNM": VNM_PROVINCES}
_LL_PANEL_TABLES = (
    DemoTable(
        indicator="8.5.2",
        series="SL_TLF_UEM_19ICLS",
        unit="PERCENT",
        areas=_LL_PANEL_AREAS,
        periods=("2022", "2024"),
        level={"BGD": 0.05, "KEN": 0.06, "NPL": 0.11, "VNM": 0.025},
        base_n=5000,
        higher_is_better=False,
        breakdown=("sex", "age"),
        ages=WORKING_AGE,
        age_gap={"Y15T24": 0.8, "Y25T64": -0.25},
        female_gap=0.3,
        sub_areas=_LL_PANEL_SUB_AREAS,
        confidence=True,
        small_cells=1,
    ),
    DemoTable(
        indicator="8.6.1",
        series="SL_TLF_NEET_19ICLS",
        unit="PERCENT",
        areas=_LL_PANEL_AREAS,
        periods=("2022", "2024"),
        level={"BGD": 0.3, "KEN": 0.2, "NPL": 0.3, "VNM": 0.1},
        base_n=1500,  # people aged 15-24
        higher_is_better=False,
        breakdown=("sex", "urbanisation"),
        female_gap=0.7,
        fixed=(("age", "Y15T24"),),
        sub_areas=_LL_PANEL_SUB_AREAS,
        confidence=True,
    ),
    DemoTable(
        indicator="1.3.1",
        series="SI_COV_SOCAST",
        unit="PERCENT",
        areas=_LL_PANEL_AREAS,
        periods=("2022", "2024"),
        level={"BGD": 0.29, "KEN": 0.15, "NPL": 0.2, "VNM": 0.34},
        base_n=5000,
        groups=("_T", "MIGRANT", "LANDLESS"),
        breakdown=("sex",),
        confidence=True,
    ),
    DemoTable(
        indicator="10.2.1",
        series="SI_POV_50MI",
        unit="PERCENT",
        areas=_LL_PANEL_AREAS,
        periods=("2022", "2024"),
        level={"BGD": 0.14, "KEN": 0.2, "NPL": 0.15, "VNM": 0.11},
        base_n=5000,
        higher_is_better=False,
        groups=("_T", "LANDLESS", "MIGRANT", "INDIGENOUS", "ETHNIC_MIN"),
        breakdown=("sex",),
        female_gap=0.1,
        sub_areas=_LL_PANEL_SUB_AREAS,
        small_cells=1,
    ),
)

_LL_LAND = DemoDataset(
    slug="land-tenure-baseline-2014-2016",
    title="Land tenure baseline 2014-2016",
    methodology=(
        "Household survey at project baseline, three annual rounds; tenure questions asked of "
        "every adult household member"
    ),
    collection_period="2014-03 to 2016-04",
    licence="Government partners only",
    contact="land@lantern.example.org",
    release_level=Level.GOVERNMENT,
    discovery_level=Level.PUBLIC,
    published=False,
)
_LL_LAND_TABLES = tuple(
    DemoTable(
        indicator="1.4.2",
        series=series,
        unit="PERCENT",
        areas=("BGD", "MWI", "NPL"),
        periods=("2014", "2015", "2016"),
        level=level,
        base_n=2500,
        groups=groups,
        breakdown=("sex",),
        female_gap=0.5,
        sub_areas={"MWI": MWI_REGIONS, "NPL": NPL_PROVINCES},
        small_cells=1,
    )
    for series, groups, level in (
        ("SP_LGL_LNDSEC", ("_T", "LANDLESS", "INDIGENOUS"), {"BGD": 0.5, "MWI": 0.55, "NPL": 0.6}),
        ("SP_LGL_LNDDOC", ("_T", "INDIGENOUS"), {"BGD": 0.38, "MWI": 0.22, "NPL": 0.46}),
    )
)

_LL_MIGRATION = DemoDataset(
    slug="migrant-earnings-and-costs",
    title="Migrant workers' earnings and recruitment costs",
    methodology=(
        "Survey of returnee and aspiring migrant workers at district migration resource centres, "
        "with a comparison sample of local workers; earnings in US dollars at 2017 purchasing "
        "power parity"
    ),
    collection_period="2021-09 to 2021-12; 2023-09 to 2023-12",
    licence="Internal use only; coalition members may see that the data exist",
    contact="migration@lantern.example.org",
    release_level=Level.OWNER,
    discovery_level=Level.COALITION,
    published=False,
)
_LL_MIGRATION_TABLES = (
    DemoTable(
        indicator="8.5.1",
        series="SL_EMP_EARN",
        unit="MEAN",
        areas=("BGD", "NPL", "VNM"),
        periods=("2021", "2023"),
        level={"BGD": 1.9, "NPL": 2.3, "VNM": 3.1},
        base_n=3000,
        groups=("_T", "MIGRANT"),
        breakdown=("sex", "age"),
        ages=WORKING_AGE,
        age_gap={"Y15T24": 0.5},
        female_gap=0.4,
        sub_areas={"NPL": NPL_PROVINCES, "VNM": VNM_PROVINCES},
        trend=0.05,
        small_cells=1,
        note="Average hourly earnings of employees, US dollars at 2017 PPP",
    ),
    DemoTable(
        indicator="10.7.1",
        series="SL_EMP_RCOST_MO",
        unit="MEAN",
        areas=("BGD", "NPL"),
        periods=("2021", "2023"),
        level={"BGD": 5.5, "NPL": 3.2},
        base_n=3000,
        higher_is_better=False,
        groups=("MIGRANT",),
        breakdown=("sex",),
        female_gap=-0.2,
        sub_areas={"NPL": NPL_PROVINCES},
        group_gaps=False,
        note="Recruitment cost in months of earnings in the country of destination",
    ),
)

_LL_FOOD = DemoDataset(
    slug="food-security-monitoring-2025",
    title="Food security monitoring 2025",
    methodology=(
        "Quarterly monitoring with the Food Insecurity Experience Scale (FIES: eight questions, "
        "12-month recall) in drought- and flood-affected programme areas"
    ),
    collection_period="2025-01 to 2025-09",
    licence="Coalition members only",
    contact="food@lantern.example.org",
    release_level=Level.COALITION,
    discovery_level=Level.PUBLIC,
    published=False,
)
_LL_FOOD_TABLES = (
    DemoTable(
        indicator="2.1.2",
        series="AG_PRD_FIESMS",
        count_series="AG_PRD_FIESMSN",
        unit="PERCENT",
        areas=("BGD", "KEN", "MWI", "NPL"),
        periods=("2025-Q1", "2025-Q2", "2025-Q3"),
        level={"BGD": 0.3, "KEN": 0.62, "MWI": 0.72, "NPL": 0.33},
        base_n=3000,
        higher_is_better=False,
        groups=("_T", "REFUGEE_IDP", "LANDLESS", "OLDER", "PLHIV", "INDIGENOUS"),
        breakdown=("sex", "urbanisation"),
        female_gap=0.1,
        sub_areas={"KEN": KEN_ARID, "MWI": MWI_REGIONS},
        small_cells=2,
        provisional=("2025-Q3",),
    ),
)

_CATALOGUE: tuple[tuple[str, str, str, dict[DemoDataset, tuple[DemoTable, ...]]], ...] = (
    (
        EG,
        "Riverbend node (Dhaka)",
        "Riverbend Inclusion Collective",
        {
            _EG_VOICE: _EG_VOICE_TABLES,
            _EG_LAND: _EG_LAND_TABLES,
            _EG_IPV: _EG_IPV_TABLES,
            _EG_LGBTIQ: _EG_LGBTIQ_TABLES,
            _EG_DISABILITY: _EG_DISABILITY_TABLES,
        },
    ),
    (
        CV,
        "Commons Voice node (Nairobi)",
        "Commons Voice Alliance",
        {
            _CV_LEARNING: _CV_LEARNING_TABLES,
            _CV_HEALTH: _CV_HEALTH_TABLES,
            _CV_VOICE: _CV_VOICE_TABLES,
            _CV_ENUMERATION: _CV_ENUMERATION_TABLES,
        },
    ),
    (
        LL,
        "Lantern node (Kathmandu)",
        "Lantern Livelihoods Network",
        {
            _LL_PANEL: _LL_PANEL_TABLES,
            _LL_LAND: _LL_LAND_TABLES,
            _LL_MIGRATION: _LL_MIGRATION_TABLES,
            _LL_FOOD: _LL_FOOD_TABLES,
        },
    ),
)

DEMO_ORGANISATIONS: tuple[DemoOrganisation, ...] = tuple(
    DemoOrganisation(node_id, name, organisation, tuple(datasets))
    for node_id, name, organisation, datasets in _CATALOGUE
)
TABLES: Mapping[tuple[str, str], tuple[DemoTable, ...]] = {
    (node_id, dataset.slug): tables
    for node_id, _, _, datasets in _CATALOGUE
    for dataset, tables in datasets.items()
}

_NO_DATA = (
    ("5.2.1", "KEN", "_T"),
    ("10.3.1", "VNM", "ETHNIC_MIN"),
    ("3.8.1", "VNM", "_T"),
    ("3.8.1", "NPL", "_T"),
    ("16.7.2", "VNM", "_T"),
    ("1.3.1", "MWI", "REFUGEE_IDP"),
    ("4.1.1", "IND", "DALIT"),
    ("2.1.2", "VNM", "ETHNIC_MIN"),
    ("8.5.2", "MWI", "_T"),
)
DESIGNED_GAPS: tuple[DesignedGap, ...] = (
    *(DesignedGap(*cell, "NO_DATA", ()) for cell in _NO_DATA),
    DesignedGap("5.2.1", "BGD", "_T", "STALE", (EG,)),
    DesignedGap("5.2.1", "BGD", "RELIGIOUS_MIN", "STALE", (EG,)),
    DesignedGap("5.2.1", "NPL", "DALIT", "STALE", (EG,)),
    DesignedGap("1.4.2", "BGD", "_T", "STALE", (LL,)),
    DesignedGap("1.4.2", "MWI", "LANDLESS", "STALE", (LL,)),
    DesignedGap("1.4.2", "NPL", "INDIGENOUS", "STALE", (LL,)),
    DesignedGap("1.4.2", "NPL", "DALIT", "SINGLE_SOURCE", (EG,)),
    DesignedGap("16.1.3", "KEN", "LGBTIQ", "SINGLE_SOURCE", (EG,)),
    DesignedGap("4.1.1", "KEN", "_T", "SINGLE_SOURCE", (CV,)),
    DesignedGap("4.1.1", "MWI", "_T", "SINGLE_SOURCE", (CV,)),
    DesignedGap("3.8.1", "KEN", "PLHIV", "SINGLE_SOURCE", (CV,)),
    DesignedGap("1.3.1", "MWI", "_T", "SINGLE_SOURCE", (CV,)),
    DesignedGap("16.9.1", "BGD", "REFUGEE_IDP", "SINGLE_SOURCE", (CV,)),
    DesignedGap("2.1.2", "KEN", "REFUGEE_IDP", "SINGLE_SOURCE", (LL,)),
    DesignedGap("10.2.1", "VNM", "ETHNIC_MIN", "SINGLE_SOURCE", (LL,)),
    DesignedGap("8.5.1", "VNM", "MIGRANT", "SINGLE_SOURCE", (LL,)),
    DesignedGap("1.3.1", "BGD", "_T", "COVERED", (EG, CV, LL)),
    DesignedGap("1.3.1", "KEN", "_T", "COVERED", (EG, CV, LL)),
    DesignedGap("1.3.1", "NPL", "_T", "COVERED", (EG, LL)),
    DesignedGap("1.3.1", "BGD", "PWD", "COVERED", (EG, CV)),
    DesignedGap("1.3.1", "KEN", "OLDER", "COVERED", (EG, CV)),
    DesignedGap("16.7.2", "BGD", "_T", "COVERED", (EG, CV)),
    DesignedGap("16.7.2", "KEN", "_T", "COVERED", (EG, CV)),
    # Two sources, but different series (by age, by disability): comparable, not poolable.
    DesignedGap("8.5.2", "KEN", "_T", "COVERED", (EG, LL)),
    DesignedGap("8.5.2", "BGD", "_T", "COVERED", (EG, LL)),
)
POOLABLE_TABLES: tuple[PoolableTable, ...] = (
    PoolableTable("1.3.1", "SI_COV_SOCAST", "PERCENT", "BGD", "2024", "_T", ("sex",), (EG, CV, LL)),
    PoolableTable("1.3.1", "SI_COV_SOCAST", "PERCENT", "KEN", "2024", "_T", ("sex",), (EG, CV, LL)),
    PoolableTable("1.3.1", "SI_COV_SOCAST", "PERCENT", "NPL", "2024", "_T", ("sex",), (EG, LL)),
    PoolableTable("1.3.1", "SI_COV_SOCAST", "PERCENT", "BGD", "2024", "PWD", ("sex",), (EG, CV)),
    PoolableTable("1.3.1", "SI_COV_SOCAST", "PERCENT", "KEN", "2024", "OLDER", ("sex",), (EG, CV)),
    PoolableTable(
        "16.7.2", "IU_DMK_ICRS", "PERCENT", "BGD", "2024", "_T", ("sex", "age"), (EG, CV)
    ),
    PoolableTable(
        "16.7.2", "IU_DMK_ICRS", "PERCENT", "KEN", "2024", "_T", ("sex", "age"), (EG, CV)
    ),
)
