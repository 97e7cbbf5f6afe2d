"""What the letters of one round share, worded once per round (``Tour``, ``Calcul``, ``Profil``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allocator import motifs as motif_codes
from allocator.programme import DEFAULT_QUALITY
from service.explanations.legal import (
    CONTRAINTES,
    DEPARTAGE,
    MOTIF_LIBELLES,
    SOURCES,
    TITRE_PARAMETRES,
    mention_bloc,
    numeros_sources,
    public_url,
    source_ref,
)
from service.explanations.meta import (
    QUI,
    STATUT_PROPOSITION,
    RoundMeta,
    etat_cite,
    etat_conseillers,
    existing_sources,
)
from service.explanations.wording import cle_texte, euros, nombre, noms_de_lieux, pluriel, postes

# -- the parts ----------------------------------------------------------------------------------
#
# A national round explains thousands of decisions, so the wording is built for speed
# (tests/service/test_explication_fast.py checks the fast paths against the plain ones):
#
# - what all the decisions of a round share (policy, report, sources, metadata, the motif
#   lists) is worded once per round (:class:`Tour`, :class:`Calcul`, :class:`Profil`), what
#   a département or an intercommunality shares once per territory, and a line whose inputs
#   repeat (strings and integers only, or the French text of numbers) once per distinct input;
# - :func:`explain_with` reads each input once (several keys at a time) and writes the parts'
#   values and their lines, already as Markdown (``- line``), into one list of pieces joined
#   once into ``texte``;
# - numbers that repeat across decisions (scores, thresholds, costs) are formatted once per
#   value (:func:`nombre_memo`), lists of numbers in one call (:func:`nombres_1`).

MOTIFS_ECARTANT = (
    motif_codes.TYPE_NON_ELIGIBLE,
    motif_codes.AVIS_PREFET_NEGATIF,
    motif_codes.SCORE_INSUFFISANT,
)


class Tour:
    """What the explanations of one round's decisions share (worded once per round)."""

    __slots__ = (
        "_calculs",
        "contributions",
        "essentiel",
        "mention",
        "meta",
        "qui",
        "result",
        "statut",
        "url",
    )

    def __init__(self, result: Mapping[str, Any], meta: RoundMeta | None) -> None:
        self.result = result
        self.meta = meta
        self.statut = meta.statut if meta is not None else STATUT_PROPOSITION
        self.qui = QUI[self.statut] if self.statut in QUI else None
        self.url = public_url()
        self.mention = mention_bloc(self.url)
        #: pieces of the opening paragraphs, by everything they depend on
        self.essentiel: dict[tuple[Any, ...], str] = {}
        #: contribution (values, text) by (posts granted, locked) for decisions without a lock
        self.contributions: dict[tuple[int, bool], tuple[dict[str, Any], str]] = {}
        self._calculs: dict[int, Calcul] = {}

    def calcul(self, n_granted: int) -> Calcul:
        c = self._calculs.get(n_granted)
        if c is None:
            c = self._calculs[n_granted] = Calcul(self, n_granted)
        return c


class Profil:
    """What a list of motifs implies (flags, French wording), worded once per distinct list.

    A round has a handful of distinct motif lists; every decision with the same list shares
    its profile.
    """

    __slots__ = (
        "avis_negatif",
        "budget",
        "enveloppe",
        "hard",
        "hard_texte",
        "locked",
        "part_dep",
        "plafond",
        "quota",
        "regles",
        "resume",
        "satisfaite",
        "score_insuffisant",
        "texte",
        "type_non_eligible",
    )

    def __init__(self, c: Calcul, found: tuple[str, ...]) -> None:
        m = set(found)
        self.locked = motif_codes.VERROUILLE in m
        self.hard = [x for x in found if x in MOTIFS_ECARTANT]
        self.texte = c.motifs_texte(found)
        self.hard_texte = c.motifs_texte(self.hard)
        resume = [x for x in found if x != motif_codes.ACCORDE]
        self.resume = " ; " + " ; ".join(MOTIF_LIBELLES.get(x, x) for x in resume) if resume else ""
        self.type_non_eligible = motif_codes.TYPE_NON_ELIGIBLE in m
        self.avis_negatif = motif_codes.AVIS_PREFET_NEGATIF in m
        self.score_insuffisant = motif_codes.SCORE_INSUFFISANT in m
        self.satisfaite = motif_codes.DEMANDE_SATISFAITE in m
        self.plafond = motif_codes.PLAFOND_STRUCTURE in m
        self.part_dep = motif_codes.PART_DEPARTEMENT_ATTEINTE in m
        self.quota = motif_codes.QUOTA_EPUISE in m or (
            c.binding_quota and motif_codes.PRIORITE_INSUFFISANTE in m
        )
        self.enveloppe = motif_codes.ENVELOPPE_NATIONALE_EPUISEE in m
        self.budget = motif_codes.BUDGET_EPUISE in m
        #: (binding rule codes, their lines) by "the score floor binds", when neither the
        #: request nor the département's share (worded with the decision's own numbers) binds
        self.regles: dict[bool, tuple[tuple[str, ...], str]] = {}


class Calcul:
    """The round's wording of the computed parts (data, parameters, operations, what if)."""

    __slots__ = (
        "acces",
        "accessibilite",
        "avis_negatif",
        "binding",
        "binding_quota",
        "budget",
        "budget_restant",
        "classement",
        "cofinancement_fin",
        "communes",
        "departements",
        "deps",
        "eligibilite",
        "eligible_types",
        "enveloppe",
        "enveloppe_restante",
        "epci_textes",
        "epcis",
        "etat",
        "etat_au",
        "etat_ligne",
        "existing_sources",
        "indice",
        "laminar",
        "lignes",
        "max_posts",
        "min_quality",
        "motifs",
        "n1",
        "n2",
        "n3",
        "note_non_remplie",
        "note_par_defaut",
        "note_remplie",
        "origine",
        "penaliser",
        "penalite",
        "plafond_dep",
        "poids",
        "poids_ligne",
        "population_fragile",
        "prefet_penalty",
        "prioritaire",
        "prioritaire_suite",
        "profils",
        "quality_floor",
        "quota",
        "quota_effectif",
        "quota_ligne",
        "ref_s1",
        "ref_s6",
        "ref_s8",
        "regle_budget",
        "regle_cofinancement",
        "regle_enveloppe",
        "regle_note",
        "regle_plafond",
        "regle_plancher",
        "regle_quota",
        "s3_millesime",
        "s6_millesime",
        "sources_citees",
        "w_a",
        "w_d_texte",
        "w_e_texte",
    )

    def __init__(self, tour: Tour, n_granted: int) -> None:
        from allocator.model import QUALITY_FLOOR

        result, meta = tour.result, tour.meta
        report = result.get("rapport") or {}
        sources = result.get("sources") or {}
        policy = report.get("policy") or {}
        self.quality_floor = QUALITY_FLOOR
        self.communes, self.departements, self.epcis = noms_de_lieux()
        # numbers formatted once per value, by number of decimals; euros
        self.n1: dict[float, str] = {}
        self.n2: dict[float, str] = {}
        self.n3: dict[float, str] = {}
        # lines worded once per distinct input
        self.deps: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}
        self.epci_textes: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self.lignes: dict[tuple[Any, ...], str] = {}
        self.motifs: dict[tuple[Any, ...], str] = {}
        self.profils: dict[tuple[Any, ...], Profil] = {}
        self.eligibilite: dict[tuple[Any, ...], str] = {}
        self._donnees(meta, sources)
        self._parametres(report, policy)
        self._regles()
        self._cofinancement(report, policy)
        self._operations(policy, n_granted)

    def _donnees(self, meta: RoundMeta | None, sources: Mapping[str, Any]) -> None:
        """Part 3: the sources cited, the state of existing advisors, the methods."""
        origine = (sources.get("conseillersExistants") or {}).get("origine")
        acc = sources.get("accessibilite") or {}
        self.origine = origine
        # The public sources in the order part 3 cites them, numbered S1, S2, … in the letter.
        numeros = numeros_sources(
            ("S1", "S1", "S3", "S7", "S3", *etat_cite(origine, meta), "S8", "S6")
        )
        #: ``donnees.sourcesCitees``: each number of the letter and the source in DATA.md
        self.sources_citees = tuple((n, i) for i, n in numeros.items())
        self.etat = etat_conseillers(origine, meta, numeros)
        self.existing_sources = existing_sources(origine, meta)
        self.etat_au = None if meta is None else meta.cree_le
        self.s3_millesime = SOURCES["S3"].millesime
        self.s6_millesime = SOURCES["S6"].millesime
        self.ref_s1 = source_ref("S1", numeros=numeros)
        self.ref_s6 = source_ref("S6", numeros=numeros)
        self.ref_s8 = source_ref("S8", numeros=numeros)
        self.population_fragile = (
            " — population INSEE × indice de fragilité numérique × facteur régional (chômage, "
            "ZRR), calibré sur les 13 millions de personnes éloignées du numérique visées par le "
            f"programme ({source_ref('S1', 'S3', 'S7', numeros=numeros)}).\n"
        )
        self.indice = (
            f" (100 = moyenne de la région) — {source_ref('S3', numeros=numeros)}, "
            f"{SOURCES['S3'].millesime}"
        )
        methode_acc = (
            "accessibilité à deux étages (E2SFCA) : conseillers à portée pour 10 000 personnes "
            f"fragiles ; temps de trajet estimé par la distance à vol d'oiseau × "
            f"{nombre(acc.get('detour'), 1)} à {nombre(acc.get('vitesseKmh'))} km/h (pas de "
            "réseau routier)"
        )
        self.accessibilite = (
            " pour 10 000 personnes fragiles de la zone — "
            f"{methode_acc}"
            + (
                "; les France Services comptent comme une offre partielle"
                if bool(acc.get("franceServicesIncluses"))
                else ""
            )
            + ".\n"
        )
        self.etat_ligne = f" — état : {self.etat}.\n"
        self.note_par_defaut = (
            f"note par défaut ({nombre(DEFAULT_QUALITY)}) : le projet n'avait pas été noté."
        )

    def _parametres(self, report: Mapping[str, Any], policy: Mapping[str, Any]) -> None:
        """Part 4: weights, préfet penalty, quota, envelope, caps."""
        self.poids = {
            "acces": policy.get("weight_access"),
            "repartition": policy.get("weight_distribution"),
            "equilibre": policy.get("weight_balance"),
        }
        self.poids_ligne = (
            f"## 4. {TITRE_PARAMETRES}\n\n- Poids des trois composantes de la priorité : accès "
            f"{nombre(self.poids['acces'], 2)}, répartition dans le département "
            f"{nombre(self.poids['repartition'], 2)}, équilibre entre départements "
            f"{nombre(self.poids['equilibre'], 2)}.\n"
        )
        self.penaliser = policy.get("prefet_negatif") == "penaliser"
        self.prefet_penalty = policy.get("prefet_penalty")
        self.penalite = ", multipliée par la pénalité d'avis défavorable " + nombre(
            self.prefet_penalty, 2
        )
        self.quota = report.get("quota")
        self.quota_effectif = report.get("effective_quota")
        self.enveloppe = policy.get("national_envelope")
        self.enveloppe_restante = report.get("envelope_remaining")
        self.budget_restant = report.get("budget_remaining_eur")
        self.quota_ligne = (
            f"- Quota du tour : {postes(int(report.get('quota') or 0))} ; enveloppe nationale "
            f"restante : {pluriel(report.get('envelope_remaining'), 'poste')} sur "
            f"{nombre(policy.get('national_envelope'))}.\n"
        )
        self.plafond_dep = (
            " (plafond départemental appliqué).\n"
            if policy.get("departement_cap") == "part_equitable"
            else " (repère, pas un plafond dans ce tour).\n"
        )
        self.min_quality = policy.get("min_quality")
        self.max_posts = policy.get("max_posts_per_structure")
        self.binding_quota = bool((report.get("binding") or {}).get("quota"))
        #: the round kept the laminar (nested) structure: no knapsack
        self.laminar = report.get("laminar") is not False

    def _regles(self) -> None:
        """Part 4: the line of each rule when it binds (after :meth:`_parametres`)."""

        def regle(libelle: str, valeur: Any) -> str:
            return f"- Règle contraignante pour vous : {libelle} ({nombre(valeur)}).\n"

        self.regle_note = regle("note minimale du projet", self.min_quality)
        self.regle_plancher = regle(
            "note plancher du calcul (une note plus basse compte pour ce plancher)",
            self.quality_floor,
        )
        self.regle_plafond = regle("plafond de postes par structure", self.max_posts)
        self.regle_quota = regle("quota du tour", self.quota)
        self.regle_enveloppe = regle("enveloppe nationale restante", self.enveloppe_restante)
        self.regle_budget = regle("budget restant du tour (euros)", self.budget_restant)

    def _cofinancement(self, report: Mapping[str, Any], policy: Mapping[str, Any]) -> None:
        """Part 4: the co-funding rule, the round's budget and what stopped the round."""
        self.regle_cofinancement = policy.get("cofunding_priority") or "neutre"
        self.prioritaire = self.regle_cofinancement == "prioritaire"
        self.budget = policy.get("budget_eur")
        self.binding = report.get("binding_constraints")
        cap = (report.get("cofunding") or {}).get("priority_cap")
        self.prioritaire_suite = (
            f" = min({nombre(cap, 1)}, coût standard / coût pour l'État) (1 sans cofinancement).\n"
        )
        fin: list[str] = []
        if self.budget is not None:
            fin.append(
                f"- Budget du tour : {euros(self.budget)} (coût pour l'État des postes "
                "attribués).\n"
            )
        if self.binding:
            fin.append(
                "- Ce qui a arrêté le tour : "
                + " et ".join(CONTRAINTES.get(b, b) for b in self.binding)
                + ".\n"
            )
        self.cofinancement_fin = "".join(fin)

    def _operations(self, policy: Mapping[str, Any], n_granted: int) -> None:
        """Part 5: eligibility, access component, balance, ranking (after :meth:`_parametres`)."""
        self.eligible_types = policy.get("eligible_types") or []
        min_q = nombre(self.min_quality, 1)
        self.note_remplie = f" ≥ note minimale {min_q} : condition remplie.\n"
        self.note_non_remplie = f" < note minimale {min_q} : condition non remplie.\n"
        self.avis_negatif = (
            "- Avis du préfet : défavorable : l'apport du projet est pénalisé (règle "
            "« penaliser »).\n"
            if self.penaliser
            else "- Avis du préfet : défavorable.\n"
        )
        self.w_a = policy.get("weight_access") or 0.0
        self.acces = f"- Composante « accès » = poids {nombre(self.w_a, 2)} × facteur qualité "
        self.w_d_texte = nombre(policy.get("weight_balance") or 0.0, 2)
        self.w_e_texte = nombre(policy.get("weight_distribution") or 0.0, 2)
        self.classement = (
            "\n### 5.5. Classement national et départage\n\n"
            "- Priorité d'un poste = accès + répartition + équilibre. Tous les postes possibles "
            "de toutes les structures sont classés par priorité décroissante et le tour attribue "
            "les premiers ("
            f"{pluriel(n_granted, 'poste attribué', 'postes attribués')} par ce tour, verrous "
            f"compris). "
            f"{DEPARTAGE}\n"
        )

    def departement(
        self, code: Any, need: Any, existing: Any, fair: Any, posts: Any
    ) -> tuple[str, str, str, str, str]:
        """(name, parameters line, balance lines, next post's balance formula, advisors)."""
        key = (
            (code, need, existing, fair, posts)
            if type(code) is str
            and type(need) is float
            and need
            and type(existing) is int
            and type(fair) is int
            and type(posts) is int
            else cle_texte(code, need, existing, fair, posts)
        )
        found = None if key is None else self.deps.get(key)
        if found is not None:
            return found
        nom = self.departements.get(code or "", code or "—")
        reste = None if fair is None or existing is None else fair - existing - (posts or 0)
        existing_t, posts_t, need_t = nombre(existing), nombre(posts), nombre(need)
        presents = pluriel(existing, "conseiller déjà présent", "conseillers déjà présents")
        part = pluriel(fair, "poste")
        parametres = (
            f"- Département {nom} ({code}) : part équitable de l'enveloppe nationale "
            f"{part} (répartition selon le besoin, méthode de Webster) ; {presents} ; "
            f"{pluriel(posts, 'poste attribué', 'postes attribués')} par ce tour ; "
            + (
                f"reste sous la part équitable après ce tour : {nombre(reste)}"
                if reste is None or reste >= 0
                else f"part équitable dépassée de {nombre(-reste)}"
            )
            + self.plafond_dep
        )
        equilibre = (
            "\n### 5.3. Équilibre entre départements\n\n"
            f"- Département {nom} ({code}) : besoin estimé "
            f"{pluriel(need, 'personne fragile', 'personnes fragiles')}, {presents}, part "
            f"équitable {part} ; ce tour y attribue {pluriel(posts, 'poste')}.\n"
            "- Composante « équilibre » d'un poste = poids × besoin du département / "
            "(conseillers présents + postes déjà attribués par le tour + 1/2) : elle baisse à "
            "chaque poste attribué dans le département (méthode de Sainte-Laguë).\n"
        )
        suivant = (
            f"- Pour votre poste suivant : {self.w_d_texte} × {need_t} / ({existing_t} + "
            f"{posts_t} + 1/2) = "
        )
        found = (nom, parametres, equilibre, suivant, existing_t)
        if key is not None:
            self.deps[key] = found
        return found

    def epci(self, code: Any, need: Any, existing: Any, posts: Any) -> tuple[str, str, str]:
        """(advisors, distribution lines, next post's distribution formula) of an EPCI part."""
        key = (
            (code, need, existing, posts)
            if type(code) is str
            and type(need) is float
            and need
            and type(existing) is int
            and type(posts) is int
            else cle_texte(code, need, existing, posts)
        )
        found = None if key is None else self.epci_textes.get(key)
        if found is not None:
            return found
        siren = (code or ":").split(":", 1)[1]
        nom = (self.epcis.get(siren, siren) if siren else None) or code
        existing_t, need_t, posts_t = nombre(existing), nombre(need), nombre(posts)
        lignes = (
            "\n### 5.4. Répartition au sein du département\n\n"
            f"- Intercommunalité {nom} (partie dans le département) : besoin estimé "
            f"{pluriel(need, 'personne fragile', 'personnes fragiles')}, "
            f"{pluriel(existing, 'conseiller déjà présent', 'conseillers déjà présents')} ; ce "
            f"tour y attribue {pluriel(posts, 'poste')}.\n"
            "- Composante « répartition » d'un poste = poids × besoin de l'intercommunalité / "
            "(conseillers présents + postes attribués par le tour + 1/2).\n"
        )
        suivant = (
            f"- Pour votre poste suivant : {self.w_e_texte} × {need_t} / ({existing_t} + "
            f"{posts_t} + 1/2) = "
        )
        found = (existing_t, lignes, suivant)
        if key is not None:
            self.epci_textes[key] = found
        return found

    def profil(self, found: tuple[str, ...]) -> Profil:
        p = self.profils.get(found)
        if p is None:
            p = self.profils[found] = Profil(self, found)
        return p

    def motifs_texte(self, found: list[str] | tuple[str, ...]) -> str:
        """The French wording of motifs, joined with `` ; ``."""
        key = tuple(found)
        text = self.motifs.get(key)
        if text is None:
            text = self.motifs[key] = " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
        return text
