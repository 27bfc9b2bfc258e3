"""The product's `group` codelist: who a cell is about, and how each group maps back to SDMX.

SDMX has no dimension for ethnicity, indigenous identity, caste, sexual orientation or
displacement. Where it speaks of a group at all, it is through COMPOSITE_BREAKDOWN: migratory
status (`MS_*`) or, for 10.3.1 and 16.b.1, the ground on which people felt discriminated
against (`GRD_*`) — a ground, not membership of a group. `sdmx_codes` (and `other_sdmx`) list
the codes whose meaning is the group or discrimination against it; a code that merely
contains the group (URBANISATION=U for slum dwellers) is named in `mapping_note` only.

Going back from SDMX (`group_from_sdmx`) is narrower: at most one code per group and
dimension, so that one SDMX table never yields two cells for the same group.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from service.reference.codelists import Code, Codelist

GROUP_CODELIST_ID = "CL_GROUP"
EVERYONE = "_T"

_CB = "COMPOSITE_BREAKDOWN"
_DISABILITY = "DISABILITY_STATUS"
_AGE = "AGE"


@dataclass(frozen=True, slots=True)
class GroupCode:
    """One group of the product codelist, with its nearest SDMX codes and how exact they are.

    `sdmx_codes[0]` is the code that maps back to the group: write it when exporting to SDMX.
    """

    code: str
    name: str
    description: str
    sdmx_dimension: str | None
    sdmx_codes: tuple[str, ...]
    mapping_note: str
    # Further (dimension, code) pairs meaning this group, in another SDMX dimension.
    other_sdmx: tuple[tuple[str, str], ...] = ()

    @property
    def sdmx_keys(self) -> tuple[tuple[str, str], ...]:
        """Every (dimension, code) pair this group maps to, the main dimension first."""
        main = tuple((self.sdmx_dimension, code) for code in self.sdmx_codes if self.sdmx_dimension)
        return main + self.other_sdmx


GROUPS: tuple[GroupCode, ...] = (
    GroupCode(
        code="_T",
        name="Everyone",
        description="No group breakdown: the cell covers everyone in scope.",
        sdmx_dimension=_CB,
        sdmx_codes=("_T",),
        mapping_note=(
            "exact: _T (no breakdown) in COMPOSITE_BREAKDOWN; an SDMX cell is about everyone when "
            "COMPOSITE_BREAKDOWN and DISABILITY_STATUS are both _T."
        ),
        other_sdmx=((_DISABILITY, "_T"), (_AGE, "_T")),
    ),
    GroupCode(
        code="PWD",
        name="Persons with disabilities",
        description=(
            "People with long-term physical, mental, intellectual or sensory impairments (CRPD "
            "art. 1), usually identified with the Washington Group questions."
        ),
        sdmx_dimension=_DISABILITY,
        sdmx_codes=("PD",),
        mapping_note=(
            "exact: DISABILITY_STATUS=PD maps back here. COMPOSITE_BREAKDOWN=GRD_DIS is "
            "discrimination on grounds of disability (10.3.1, 16.b.1), the ground reported rather "
            "than the respondent's status, and does not map back; GRD_DISHEA (disability or "
            "health status) is broader still and is not listed."
        ),
        other_sdmx=((_CB, "GRD_DIS"),),
    ),
    GroupCode(
        code="ETHNIC_MIN",
        name="Ethnic minorities",
        description=(
            "People who belong to an ethnic, national or linguistic minority in their country, as "
            "identified nationally (self-identification where available)."
        ),
        sdmx_dimension=_CB,
        sdmx_codes=(
            "GRD_ETH",
            "GRD_ETHCUL",
            "GRD_ETHCOLLAN",
            "GRD_ETHRACECOLLAN",
            "GRD_RACE",
            "GRD_RACECOLR",
            "GRD_COLR",
        ),
        mapping_note=(
            "broader: SDMX has no ethnicity dimension, only grounds of discrimination (10.3.1, "
            "16.b.1). GRD_ETH, which maps back here, counts people discriminated against on "
            "ethnic grounds, majority groups and indigenous peoples included; the race, colour, "
            "culture and language variants are broader still. GRD_ETHI, GRD_ETHIO, "
            "GRD_ETHCOLLANNAL and GRD_ETHCOLLANMIG mix in migration or nationality and map to no "
            "group."
        ),
    ),
    GroupCode(
        code="INDIGENOUS",
        name="Indigenous peoples",
        description="Peoples who self-identify as indigenous (UNDRIP; ILO Convention No. 169).",
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: CL_COMP_BREAKDOWN has no indigenous identity. Nearest: GRD_ETH (ethnic "
            "grounds), which also covers non-indigenous groups and therefore maps back to "
            "ETHNIC_MIN, never here."
        ),
    ),
    GroupCode(
        code="DALIT",
        name="Dalit and other caste-affected communities",
        description=(
            "Communities discriminated against on the basis of work and descent (caste), such as "
            "Dalit in South Asia."
        ),
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: caste is discrimination based on descent (ICERD art. 1, CERD General "
            "Recommendation 29), for which CL_COMP_BREAKDOWN has no ground. Nearest: GRD_ETH or "
            "GRD_SOCIOECON, both far broader; neither maps back here."
        ),
    ),
    GroupCode(
        code="RELIGIOUS_MIN",
        name="Religious minorities",
        description="People who belong to a religious or belief minority in their country.",
        sdmx_dimension=_CB,
        sdmx_codes=("GRD_RELIGION",),
        mapping_note=(
            "broader: GRD_RELIGION, which maps back here, is discrimination on grounds of "
            "religion or belief (10.3.1, 16.b.1) against anyone, majority religions included."
        ),
    ),
    GroupCode(
        code="LGBTIQ",
        name="LGBTIQ+ people",
        description=(
            "Lesbian, gay, bisexual, transgender, intersex and queer people, and others of "
            "diverse sexual orientation, gender identity or expression, or sex characteristics."
        ),
        sdmx_dimension=_CB,
        sdmx_codes=("GRD_SEXOGENID", "GRD_SEXGENID", "GRD_SEXO", "GRD_GENID"),
        mapping_note=(
            "close: grounds of discrimination 'sexual orientation and gender identity' "
            "(GRD_SEXOGENID, which maps back here) and 'sexual/gender identity' (GRD_SEXGENID); "
            "GRD_SEXO and GRD_GENID each cover part of the group. Intersex status (sex "
            "characteristics) has no code."
        ),
    ),
    GroupCode(
        code="SLUM",
        name="Slum and informal-settlement dwellers",
        description=(
            "People living in slums, informal settlements or inadequate housing (the UN-Habitat "
            "definition used by 11.1.1)."
        ),
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: slum residence is the subject of indicator 11.1.1 (series "
            "EN_LND_SLUM), not a disaggregation. Nearest: URBANISATION=U (all urban residents), "
            "far broader; not mapped back."
        ),
    ),
    GroupCode(
        code="REFUGEE_IDP",
        name="Refugees and internally displaced people",
        description=(
            "People forced to flee: refugees and asylum seekers outside their country, and "
            "internally displaced people within it."
        ),
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: indicator 10.7.4 (series SM_POP_REFG_OR) counts refugees, but no "
            "dimension marks them. Nearest: MS_MIGRANT, which counts refugees among international "
            "migrants but not internally displaced people; not mapped back."
        ),
    ),
    GroupCode(
        code="MIGRANT",
        name="Migrants",
        description=(
            "International migrants: people living outside their country of birth or citizenship, "
            "whatever their legal status."
        ),
        sdmx_dimension=_CB,
        sdmx_codes=("MS_MIGRANT", "GRD_MIG"),
        mapping_note=(
            "exact: COMPOSITE_BREAKDOWN=MS_MIGRANT maps back here. GRD_MIG is discrimination on "
            "grounds of migration status (10.3.1) and does not map back, nor do the European "
            "subsets MS_EUMIGRANT and MS_NONEUMIGRANT, so one SDMX table never yields two MIGRANT "
            "cells."
        ),
    ),
    GroupCode(
        code="OLDER",
        name="Older persons",
        description=(
            "People aged 60 and over (UN definition); many national sources use 65 and over."
        ),
        sdmx_dimension=_AGE,
        sdmx_codes=("Y_GE60", "Y_GE65"),
        mapping_note=(
            "close: AGE=Y_GE60 maps back here; Y_GE65 is the narrower band many sources use. The "
            "product also keeps the age band in its own `age` field. GRD_AGE (age discrimination) "
            "covers any age and is not listed."
        ),
    ),
    GroupCode(
        code="YOUTH",
        name="Youth",
        description=(
            "People aged 15 to 24 (UN statistical definition); national definitions vary, for "
            "example 15 to 35 in the African Youth Charter."
        ),
        sdmx_dimension=_AGE,
        sdmx_codes=("Y15T24",),
        mapping_note=(
            "exact for the UN definition: AGE=Y15T24 maps back here; other youth bands (Y15T29, "
            "Y18T35) are in CL_AGE but do not map back. The product also keeps the age band in "
            "its own `age` field."
        ),
    ),
    GroupCode(
        code="PLHIV",
        name="People living with HIV",
        description="People of any age living with HIV.",
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: HIV is the subject of indicator 3.3.1 (series SH_HIV_INCD), not a "
            "disaggregation. Nearest: GRD_HEALTH and GRD_DISHEA (discrimination on grounds of "
            "health status), far broader; not mapped back."
        ),
    ),
    GroupCode(
        code="LANDLESS",
        name="Landless and land-poor households",
        description=(
            "Households that own or hold secure rights to no land, or too little to live from."
        ),
        sdmx_dimension=None,
        sdmx_codes=(),
        mapping_note=(
            "no SDMX code: land rights are the subject of indicators 1.4.2 and 5.a.1, not a "
            "disaggregation. Nearest: INCOME_WEALTH_QUANTILE=B40 (the poorest 40%), a different "
            "concept; not mapped back."
        ),
    ),
)

# The reverse mapping, one code per group and dimension (see the module docstring).
FROM_SDMX: MappingProxyType[tuple[str, str], str] = MappingProxyType(
    {
        (_CB, "_T"): EVERYONE,
        (_DISABILITY, "_T"): EVERYONE,
        (_AGE, "_T"): EVERYONE,
        (_DISABILITY, "PD"): "PWD",
        (_CB, "GRD_ETH"): "ETHNIC_MIN",
        (_CB, "GRD_RELIGION"): "RELIGIOUS_MIN",
        (_CB, "GRD_SEXOGENID"): "LGBTIQ",
        (_CB, "MS_MIGRANT"): "MIGRANT",
        (_AGE, "Y_GE60"): "OLDER",
        (_AGE, "Y15T24"): "YOUTH",
    }
)

_BY_CODE = {group.code: group for group in GROUPS}


def group_codelist() -> Codelist:
    return Codelist(GROUP_CODELIST_ID, "Marginalised group", (Code(g.code, g.name) for g in GROUPS))


def sdmx_from_group(group: str) -> tuple[str, str] | None:
    """The (dimension, code) to write for a group in SDMX, the one that maps back to it."""
    found = _BY_CODE.get(group)
    if found is None or found.sdmx_dimension is None:
        return None
    return found.sdmx_dimension, found.sdmx_codes[0]


def group_from_sdmx(dimension: str, code: str) -> str | None:
    """The product group an SDMX (dimension, code) pair denotes, where that is unambiguous."""
    return FROM_SDMX.get((dimension.strip(), code.strip()))
