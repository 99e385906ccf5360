"""IMS QTI 2.1 and 3.0 content packages of choice items, to and from TAO and other QTI tools.

A package is a zip with ``imsmanifest.xml`` (IMS Content Packaging) and one ``assessmentItem`` file per item
*per language* under ``items/``. QTI 3.0 uses the same structure with its own namespaces and ``qti-``
prefixed kebab-case names (``qti-assessment-item``, ``qti-choice-interaction``, ``response-identifier``).
Reading also accepts QTI 2.2 items, which current TAO exports by default.

Languages
    Each language version is a separate assessmentItem with ``xml:lang`` set and the identifier
    ``<code>.<lang>`` (``K-001.ru``). QTI gives an item one language, and TAO keeps translations as separate
    items, so this is what TAO and other tools import cleanly; a body carrying all three languages would show
    all three to every candidate. On import, versions are grouped back into one item by the Tandau metadata in
    the manifest (below) or, for packages from other tools, by the identifier with a trailing ``.kk``, ``.ru``
    or ``.en`` removed; an identifier without that suffix is the item's code, and its language comes from
    ``xml:lang`` (``ru-RU`` is ru; ``kz`` is taken for kk).

Formats
    ===============  ===================================================================================
    single_best      one ``choiceInteraction`` (``maxChoices=1``), the key as ``correctResponse``, the
                     standard ``match_correct`` response processing
    sjt_most_least   two choice interactions answering ``RESPONSE_MOST`` and ``RESPONSE_LEAST`` over the
                     same options, each with its ``correctResponse``; response processing adds a point for
                     each, as Tandau scores it (from other tools: two single-answer choice interactions,
                     the one whose response identifier contains ``LEAST`` being "least", else the second)
    sjt_rank         one ``orderInteraction``; ``correctResponse`` lists the options in the expert order
                     (rank 1 first); ``match_correct`` gives QTI tools a 1 only for the exact order, whereas
                     Tandau scores agreement with the footrule (:mod:`item_bank.items`)
    sjt_rate         one ``matchInteraction`` pairing each option (first set) with one of the four rating
                     levels ``R1..R4`` (second set), the expert pairs as ``correctResponse``, and a
                     ``mapping`` that gives exactly Tandau's points (graded: 2 for the expert's rating, 1 for
                     a neighbour; exact: 1), scored by the standard ``map_response`` template. This is the
                     grid ("Likert table") that TAO and other tools offer, so no item is left out.
    ===============  ===================================================================================

Text
    The stem is the interaction's ``prompt`` (for most/least, a ``div class="tandau-stem"``, the prompts
    saying "most effective" and "least effective" in the item's language); a shared stimulus is copied into
    every item that uses it as ``div class="tandau-stimulus"`` (its title as ``h2``), because QTI 2.1 has no
    shared stimulus and inline text is what every tool shows. Line breaks become ``br`` or one ``p`` per line.
    Items written by Tandau (``toolName="Tandau"``) are read back character for character, except that line
    ends come back as ``\\n`` (XML normalises them). From other tools, the stem is the text of the item body
    around the interaction plus its prompt, one line per paragraph with spaces collapsed; feedback, rubric
    blocks and stylesheets are ignored; images, objects and MathML are refused, since a Tandau item is text.

Tandau metadata
    Each resource in the manifest carries ``<tandau:item>`` (namespace :data:`TANDAU_NS`) with the code,
    language, translation state, status, classification, stimulus code, tags, enemies and scoring options,
    which QTI has no place for; the manifest's own metadata carries every stimulus whole
    (``<tandau:stimulus>``, all languages and titles), and the copy inside each item, which is what other
    tools show, must agree with it on import. A package from another tool has none of this: its items get
    ``defaults`` (status and state ``draft`` unless given; a knowledge item needs a ``domain`` and an SJT
    item a ``competence`` from them), and a stimulus in its body is read as part of the stem. A package
    exported from TAO after editing Tandau's items there has lost this metadata too (TAO writes its own
    manifest), so it comes back like any other tool's: codes from the identifiers, defaults for the rest.

Safety
    XML is parsed with the standard library, which does not fetch external entities; a document that declares
    an entity (``<!ENTITY``, the billion-laughs and external-entity attacks) is refused. Zip members are read
    into memory, never extracted; absolute names, ``..`` and drive letters are refused, as are packages with
    more members, more declared bytes, or members larger than :class:`ZipLimits` allows (sizes are enforced
    while decompressing, so a header that lies does not help).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote
from xml.etree import ElementTree as ET
from xml.parsers import expat

from item_bank.formats.errors import (
    ImportFailed,
    ImportProblem,
    Locate,
    reference_problems,
    stimulus_problems,
    validation_problems,
)
from item_bank.items import FORMATS, LANGUAGES, LETTERS, RATE_RULES, ItemSpec, LanguageVersion, Stimulus

__all__ = [
    "QTI_VERSIONS",
    "TANDAU_NS",
    "ZipLimits",
    "read_qti_package",
    "write_qti_package",
]

QTI_VERSIONS: Final = ("2.1", "3.0")
TANDAU_NS: Final = "urn:tandau:qti-item-metadata:1"
"""Namespace of the ``<tandau:item>`` and ``<tandau:stimulus>`` metadata in the manifest."""

_ITEM_NS: Final = {
    "2.1": "http://www.imsglobal.org/xsd/imsqti_v2p1",
    "3.0": "http://www.imsglobal.org/xsd/imsqtiasi_v3p0",
}
_ITEM_XSD: Final = {
    "2.1": "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0_v1p0.xsd",
}
# Namespaces read: QTI 2.2 (what current TAO exports by default) uses 2.1's names for everything read here.
_READ_NS: Final = {
    "http://www.imsglobal.org/xsd/imsqti_v2p1": "2.1",
    "http://www.imsglobal.org/xsd/imsqti_v2p2": "2.2",
    "http://www.imsglobal.org/xsd/imsqtiasi_v3p0": "3.0",
}
_MANIFEST_NS: Final = {
    "2.1": "http://www.imsglobal.org/xsd/imscp_v1p1",
    "3.0": "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1",
}
_MANIFEST_XSD: Final = {
    "2.1": "http://www.imsglobal.org/xsd/qti/qtiv2p1/qtiv2p1_imscpv1p2_v1p0.xsd",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqtiv3p0_imscpv1p2_v1p0.xsd",
}
_PACKAGE_SCHEMA: Final = {"2.1": ("QTIv2.1 Package", "1.0.0"), "3.0": ("QTI Package", "3.0.0")}
_RESOURCE_TYPE: Final = {"2.1": "imsqti_item_xmlv2p1", "3.0": "imsqti_item_xmlv3p0"}
_TEMPLATES: Final = {
    "2.1": "http://www.imsglobal.org/question/qti_v2p1/rptemplates/{}",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/{}.xml",
}
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_MATHML_NS: Final = "http://www.w3.org/1998/Math/MathML"
_TOOL_NAME: Final = "Tandau"
_MANIFEST: Final = "imsmanifest.xml"

_RATINGS: Final = ("R1", "R2", "R3", "R4")
_LABELS: Final = {
    "en": (
        "Most effective",
        "Least effective",
        ("very ineffective", "ineffective", "effective", "very effective"),
    ),
    "ru": (
        "Наиболее эффективный вариант",
        "Наименее эффективный вариант",
        ("крайне неэффективно", "неэффективно", "эффективно", "очень эффективно"),
    ),
    "kk": ("Ең тиімді нұсқа", "Ең тиімсіз нұсқа", ("мүлдем тиімсіз", "тиімсіз", "тиімді", "өте тиімді")),
}
# Body elements that keep their (XHTML) names in QTI 3.0.
_HTML: Final = frozenset({"p", "div", "br", "h2", "span", "img", "object", "ul", "ol", "li", "table"})
# Characters XML 1.0 cannot carry at all (a package with them would be refused by every reader).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on a package before and while it is read (defaults fit banks of many thousand items).

    Attributes
    ----------
    max_members : int
        Files in the zip, including images and stylesheets that are not read.
    max_total_bytes : int
        Sum of the uncompressed sizes the zip declares.
    max_member_bytes : int
        Uncompressed size of one file that is read (the manifest, an item), enforced while decompressing.
    """

    max_members: int = 20_000
    max_total_bytes: int = 512 * 2**20
    max_member_bytes: int = 8 * 2**20


# Writing ---------------------------------------------------------------------------------------------------


def _kebab(name: str) -> str:
    return re.sub(r"[A-Z]", lambda match: "-" + match.group(0).lower(), name)


def _spell_qti3(element: ET.Element) -> None:
    """Rename a tree built with QTI 2.1 names to QTI 3.0's (``simpleChoice`` -> ``qti-simple-choice``)."""
    for node in element.iter():
        if node.tag not in _HTML:
            node.tag = "qti-" + _kebab(node.tag)
        node.attrib = {(key if ":" in key else _kebab(key)): value for key, value in node.attrib.items()}


def _declare(root: ET.Element, namespace: str, schema: str, **prefixed: str) -> None:
    # Names are written as literal prefixes with their declarations on the root: ElementTree's own
    # default_namespace option refuses unqualified attributes, and ns0: prefixes put some QTI tools off.
    root.set("xmlns", namespace)
    root.set("xmlns:xsi", _XSI)
    for prefix, uri in prefixed.items():
        root.set(f"xmlns:{prefix}", uri)
    root.set("xsi:schemaLocation", f"{namespace} {schema}")


def _indent(element: ET.Element, level: int = 0) -> None:
    """Indent elements that hold only elements; text-bearing ones are left exactly as they are."""
    if not len(element) or (element.text or "").strip() or any(child.tag == "br" for child in element):
        return
    if any((child.tail or "").strip() for child in element):
        return
    inner = "\n" + "  " * (level + 1)
    element.text = inner
    for child in element:
        _indent(child, level + 1)
        child.tail = inner
    element[-1].tail = "\n" + "  " * level


def _split_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _set_lines(parent: ET.Element, text: str) -> ET.Element:
    lines = _split_lines(text)
    parent.text = lines[0]
    for line in lines[1:]:
        ET.SubElement(parent, "br").tail = line
    return parent


def _paragraphs(parent: ET.Element, text: str) -> None:
    for line in _split_lines(text):
        ET.SubElement(parent, "p").text = line


def _declaration(
    item: ET.Element, identifier: str, cardinality: str, base_type: str, values: Sequence[str]
) -> ET.Element:
    declaration = ET.SubElement(
        item,
        "responseDeclaration",
        {"identifier": identifier, "cardinality": cardinality, "baseType": base_type},
    )
    correct = ET.SubElement(declaration, "correctResponse")
    for value in values:
        ET.SubElement(correct, "value").text = value
    return declaration


def _interaction(body: ET.Element, tag: str, response: str, prompt: str, **attributes: str) -> ET.Element:
    interaction = ET.SubElement(body, tag, {"responseIdentifier": response, "shuffle": "false", **attributes})
    _set_lines(ET.SubElement(interaction, "prompt"), prompt)
    return interaction


def _choices(
    parent: ET.Element, tag: str, ids: Sequence[str], texts: Sequence[str], **attributes: str
) -> None:
    for identifier, text in zip(ids, texts, strict=True):
        _set_lines(ET.SubElement(parent, tag, {"identifier": identifier, **attributes}), text)


def _point_for(item: ET.Element, response: str) -> None:
    """``SCORE = SCORE + 1`` when ``response`` matches its correct response."""
    condition = ET.SubElement(item, "responseCondition")
    branch = ET.SubElement(condition, "responseIf")
    match = ET.SubElement(branch, "match")
    ET.SubElement(match, "variable", {"identifier": response})
    ET.SubElement(match, "correct", {"identifier": response})
    assign = ET.SubElement(ET.SubElement(branch, "setOutcomeValue", {"identifier": "SCORE"}), "sum")
    ET.SubElement(assign, "variable", {"identifier": "SCORE"})
    ET.SubElement(assign, "baseValue", {"baseType": "float"}).text = "1"


def _item_tree(
    item: ItemSpec, lang: str, identifier: str, stimulus: Stimulus | None, version: str
) -> ET.Element:
    text = item.versions[lang]
    n = len(text.options)
    letters = list(LETTERS[:n])
    root = ET.Element(
        "assessmentItem",
        {
            "identifier": identifier,
            "title": item.code,
            "adaptive": "false",
            "timeDependent": "false",
            "toolName": _TOOL_NAME,
            "toolVersion": "1",
            "xml:lang": lang,
        },
    )
    key = item.key
    if item.format == "single_best":
        _declaration(root, "RESPONSE", "single", "identifier", [letters[key["correct"]]])
    elif item.format == "sjt_most_least":
        _declaration(root, "RESPONSE_MOST", "single", "identifier", ["MOST_" + letters[key["most"]]])
        _declaration(root, "RESPONSE_LEAST", "single", "identifier", ["LEAST_" + letters[key["least"]]])
    elif item.format == "sjt_rank":
        order = sorted(range(n), key=lambda i: key["rank"][i])
        _declaration(root, "RESPONSE", "ordered", "identifier", [letters[i] for i in order])
    else:
        pairs = [f"{letters[i]} {_RATINGS[r - 1]}" for i, r in enumerate(key["ratings"])]
        declaration = _declaration(root, "RESPONSE", "multiple", "directedPair", pairs)
        exact, near = RATE_RULES[item.scoring.get("rule", "graded")]
        mapping = ET.SubElement(declaration, "mapping", {"defaultValue": "0"})
        for i, expert in enumerate(key["ratings"]):
            for rating in range(1, len(_RATINGS) + 1):
                points = exact if rating == expert else near if abs(rating - expert) == 1 else 0
                if points:
                    entry = {"mapKey": f"{letters[i]} {_RATINGS[rating - 1]}", "mappedValue": str(points)}
                    ET.SubElement(mapping, "mapEntry", entry)
    outcome = ET.SubElement(
        root, "outcomeDeclaration", {"identifier": "SCORE", "cardinality": "single", "baseType": "float"}
    )
    ET.SubElement(ET.SubElement(outcome, "defaultValue"), "value").text = "0"

    body = ET.SubElement(root, "itemBody")
    if stimulus is not None and lang in stimulus.texts:
        block = ET.SubElement(body, "div", {"class": "tandau-stimulus"})
        if lang in stimulus.title:
            _set_lines(ET.SubElement(block, "h2"), stimulus.title[lang])
        _paragraphs(block, stimulus.texts[lang])
    most_label, least_label, rating_labels = _LABELS.get(lang, _LABELS["en"])
    if item.format == "single_best":
        interaction = _interaction(body, "choiceInteraction", "RESPONSE", text.stem, maxChoices="1")
        _choices(interaction, "simpleChoice", letters, text.options)
    elif item.format == "sjt_most_least":
        _paragraphs(ET.SubElement(body, "div", {"class": "tandau-stem"}), text.stem)
        for name, label in (("MOST", most_label), ("LEAST", least_label)):
            interaction = _interaction(body, "choiceInteraction", f"RESPONSE_{name}", label, maxChoices="1")
            _choices(interaction, "simpleChoice", [f"{name}_{c}" for c in letters], text.options)
    elif item.format == "sjt_rank":
        interaction = _interaction(body, "orderInteraction", "RESPONSE", text.stem)
        _choices(interaction, "simpleChoice", letters, text.options)
    else:
        interaction = _interaction(body, "matchInteraction", "RESPONSE", text.stem, maxAssociations=str(n))
        _choices(
            ET.SubElement(interaction, "simpleMatchSet"),
            "simpleAssociableChoice",
            letters,
            text.options,
            matchMax="1",
        )
        levels = [f"{rating} - {label}" for rating, label in enumerate(rating_labels, start=1)]
        _choices(
            ET.SubElement(interaction, "simpleMatchSet"),
            "simpleAssociableChoice",
            _RATINGS,
            levels,
            matchMax=str(n),
        )

    if item.format == "sjt_most_least":
        processing = ET.SubElement(root, "responseProcessing")
        _point_for(processing, "RESPONSE_MOST")
        _point_for(processing, "RESPONSE_LEAST")
    else:
        template = "map_response" if item.format == "sjt_rate" else "match_correct"
        ET.SubElement(root, "responseProcessing", {"template": _TEMPLATES[version].format(template)})
    return root


def _metadata(resource: ET.Element, item: ItemSpec, lang: str) -> None:
    attributes = {
        "code": item.code,
        "language": lang,
        "state": item.versions[lang].state,
        "status": item.status,
    }
    for name in ("domain", "topic", "competence", "stimulus"):
        value = getattr(item, name)
        if value is not None:
            attributes[name] = value
    meta = ET.SubElement(ET.SubElement(resource, "metadata"), "tandau:item", attributes)
    for tag in item.tags:
        ET.SubElement(meta, "tandau:tag").text = tag
    for enemy in item.enemies:
        ET.SubElement(meta, "tandau:enemy").text = enemy
    if item.scoring:
        ET.SubElement(meta, "tandau:scoring").text = json.dumps(dict(item.scoring), sort_keys=True)


_NCNAME_REST: Final = re.compile(r"[^\w.\-]")


def _identifier(code: str, lang: str, taken: set[str]) -> str:
    """``<code>.<lang>``, made a valid XML name (QTI identifiers are NCNames) and unique if it has to be."""
    base = _NCNAME_REST.sub("_", f"{code}.{lang}")
    if not (base[0].isalpha() or base[0] == "_"):
        base = "I" + base
    identifier, counter = base, 1
    while identifier in taken:
        counter += 1
        identifier = f"{base}_{counter}"
    taken.add(identifier)
    return identifier


def _unwritable(items: Sequence[ItemSpec], stimuli: Sequence[Stimulus]) -> list[str]:
    """Texts with characters that XML 1.0 cannot carry, named by item or stimulus and field."""
    texts: list[tuple[str, str]] = []
    for item in items:
        for lang, version in item.versions.items():
            texts.append((f"item {item.code!r} versions.{lang}.stem", version.stem))
            texts.extend(
                (f"item {item.code!r} versions.{lang}.options[{i}]", option)
                for i, option in enumerate(version.options)
            )
        texts.extend((f"item {item.code!r} tags", tag) for tag in item.tags)
    for stimulus in stimuli:
        texts.extend(
            (f"stimulus {stimulus.code!r} texts.{lang}", text) for lang, text in stimulus.texts.items()
        )
        texts.extend(
            (f"stimulus {stimulus.code!r} title.{lang}", text) for lang, text in stimulus.title.items()
        )
    return [
        f"{where}: character {bad.group(0)!r} cannot be written in XML"
        for where, text in texts
        if (bad := _NOT_XML.search(text))
    ]


def _zip_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # A fixed timestamp makes the same bank give the same bytes, so packages can be compared and cached.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _xml_bytes(root: ET.Element) -> bytes:
    _indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_qti_package(
    items: Iterable[ItemSpec], stimuli: Iterable[Stimulus] = (), *, version: str = "2.1"
) -> bytes:
    """A QTI content package (zip) of ``items``: one assessmentItem per item per language.

    Parameters
    ----------
    items : iterable of ItemSpec
        Valid items of any format (see the module documentation for how each is expressed).
    stimuli : iterable of Stimulus
        At least the stimuli the items refer to; their text is copied into the items.
    version : {"2.1", "3.0"}
        QTI version.

    Returns
    -------
    bytes
        The zip; the same items give the same bytes.

    Raises
    ------
    ItemValidationError
        If an item is not valid.
    ValueError
        For an unknown version, codes used twice, a stimulus that was not given, or text with characters
        that XML cannot carry (control characters pasted from word processors, for example).
    """
    if version not in QTI_VERSIONS:
        raise ValueError(f"version must be one of {list(QTI_VERSIONS)}, got {version!r}")
    items, stimuli = list(items), list(stimuli)
    by_code = {stimulus.code: stimulus for stimulus in stimuli}
    for item in items:
        item.validate()
    troubles = [
        f"{kind} code {code!r} is given {count} times"
        for kind, codes in (("item", [i.code for i in items]), ("stimulus", [s.code for s in stimuli]))
        for code, count in Counter(codes).items()
        if count > 1
    ]
    troubles.extend(
        f"item {item.code!r} refers to stimulus {item.stimulus!r}, which was not given"
        for item in items
        if item.stimulus is not None and item.stimulus not in by_code
    )
    troubles.extend(_unwritable(items, stimuli))
    if troubles:
        raise ValueError("cannot write the QTI package: " + "; ".join(troubles))

    manifest_ns = _MANIFEST_NS[version]
    manifest = ET.Element("manifest")
    _declare(manifest, manifest_ns, _MANIFEST_XSD[version], tandau=TANDAU_NS)
    schema, schema_version = _PACKAGE_SCHEMA[version]
    package_meta = ET.SubElement(manifest, "metadata")
    ET.SubElement(package_meta, "schema").text = schema
    ET.SubElement(package_meta, "schemaversion").text = schema_version
    for stimulus in stimuli:
        node = ET.SubElement(package_meta, "tandau:stimulus", {"code": stimulus.code})
        for name, texts in (("title", stimulus.title), ("text", stimulus.texts)):
            for lang in [lang for lang in LANGUAGES if lang in texts] + sorted(set(texts) - set(LANGUAGES)):
                ET.SubElement(node, f"tandau:{name}", {"language": lang}).text = texts[lang]
    ET.SubElement(manifest, "organizations")
    resources = ET.SubElement(manifest, "resources")
    files: list[tuple[str, bytes]] = []
    taken: set[str] = set()
    for item in items:
        for lang in [lang for lang in LANGUAGES if lang in item.versions]:
            identifier = _identifier(item.code, lang, taken)
            href = f"items/{identifier}.xml"
            tree = _item_tree(item, lang, identifier, by_code.get(item.stimulus or ""), version)
            if version == "3.0":
                _spell_qti3(tree)
            _declare(tree, _ITEM_NS[version], _ITEM_XSD[version])
            files.append((href, _xml_bytes(tree)))
            resource = ET.SubElement(
                resources,
                "resource",
                {"identifier": identifier, "type": _RESOURCE_TYPE[version], "href": href},
            )
            _metadata(resource, item, lang)
            ET.SubElement(resource, "file", {"href": href})
    digest = hashlib.sha256(b"".join(data for _, data in files)).hexdigest()[:16]
    manifest.set("identifier", f"tandau-{digest}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _zip_entry(archive, _MANIFEST, _xml_bytes(manifest))
        for name, data in files:
            _zip_entry(archive, name, data)
    return buffer.getvalue()


# Reading ---------------------------------------------------------------------------------------------------

_DEFAULT_LIMITS: Final = ZipLimits()
_DEFAULT_FIELDS: Final = ("language", "state", "status", "domain", "topic", "competence")
_READ_INTERACTIONS: Final = ("choiceInteraction", "orderInteraction", "matchInteraction")
# Body content that is not item text: feedback, scoring rubrics, template parts, style.
_SKIPPED: Final = frozenset(
    {
        "feedbackBlock",
        "feedbackInline",
        "modalFeedback",
        "rubricBlock",
        "templateBlock",
        "templateInline",
        "printedVariable",
        "infoControl",
        "stylesheet",
        "companionMaterialsInfo",
    }
)
_BLOCKS: Final = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "li", "ul", "ol", "table", "tr"}
    | {"caption", "dl", "dt", "dd", "hr", "address", "section", "article", "prompt"}
)
_MEDIA: Final = frozenset({"img", "object", "audio", "video", "picture", "svg", f"{{{_MATHML_NS}}}math"})
_KZ_CODES: Final = {"kz": "kk"}  # "kz" is the country, but often written for the Kazakh language


class _EntityDeclaredError(Exception):
    pass


def _refuse_entity(*_: Any) -> None:
    raise _EntityDeclaredError


def _parse_xml(data: bytes, where: str, problems: list[ImportProblem]) -> ET.Element | None:
    """Parse ``data``, refusing entity declarations; problems name the line of the fault."""
    # A first pass with expat's own handlers sees every <!ENTITY> before anything is expanded; ElementTree
    # alone would expand internal entities (billion laughs) without asking.
    scanner = expat.ParserCreate()
    scanner.EntityDeclHandler = _refuse_entity
    scanner.UnparsedEntityDeclHandler = _refuse_entity
    try:
        scanner.Parse(data, True)
    except _EntityDeclaredError:
        message = (
            "declares an XML entity (<!ENTITY ...>); entities are refused because they can expand without "
            "bound or read other files"
        )
        problems.append(ImportProblem(where, None, None, message, scanner.CurrentLineNumber))
        return None
    except expat.ExpatError as exc:
        problems.append(ImportProblem(where, None, None, f"is not well-formed XML: {exc}", exc.lineno))
        return None
    try:
        return ET.fromstring(data)  # noqa: S314 - entity declarations were refused above
    except ET.ParseError as exc:
        problems.append(ImportProblem(where, None, None, f"is not well-formed XML: {exc}", exc.position[0]))
        return None


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _normalise(root: ET.Element, namespace: str, dialect: str) -> None:
    """Rename the item's QTI elements to bare QTI 2.1 names (``qti-simple-choice`` -> ``simpleChoice``)."""
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        node_ns, local = _split_tag(node.tag)
        if node_ns != namespace:
            continue
        if dialect == "3.0":
            local = _camel(local[4:]) if local.startswith("qti-") else local
            node.attrib = {(k if k.startswith("{") else _camel(k)): v for k, v in node.attrib.items()}
        node.tag = local


def _display(name: str, dialect: str) -> str:
    """A reported QTI 2.1 element name as the file's own dialect spells it (``qti-simple-choice[2]``)."""
    if dialect != "3.0" or name in _HTML or name in ("identifier", "xml:lang") or name.startswith("div."):
        return name
    return "qti-" + _kebab(name)


def _exact_text(element: ET.Element) -> str:
    """Text of a Tandau-written element: ``br`` is a line break, everything else is kept as it is."""
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "br" else _exact_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _flow_lines(element: ET.Element, skip: Collection[int], media: list[str]) -> list[str]:
    """Text lines of other tools' markup: one per block or ``br``, spaces collapsed, empty lines dropped.

    Interactions contribute only their prompt; feedback and rubrics nothing. Images, objects and MathML are
    listed in ``media`` instead.
    """
    tokens: list[str | None] = []  # None marks a line break

    def walk(node: ET.Element, top: bool) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if id(node) in skip or tag in _SKIPPED:
            return
        if tag in _MEDIA:
            media.append(_split_tag(tag)[1])
            return
        if tag.endswith("Interaction") and not top:
            for prompt in node.findall("prompt"):
                walk(prompt, False)
            return
        block = tag in _BLOCKS or tag == "br"
        if block:
            tokens.append(None)
        if node.text:
            tokens.append(node.text)
        for child in node:
            walk(child, False)
            if child.tail:
                tokens.append(child.tail)
        if block:
            tokens.append(None)

    walk(element, True)
    lines: list[str] = []
    current: list[str] = []
    for token in [*tokens, None]:
        if token is None:
            line = " ".join("".join(current).split())
            if line:
                lines.append(line)
            current = []
        else:
            current.append(token)
    return lines


def _has_class(element: ET.Element, name: str) -> bool:
    return element.tag == "div" and name in (element.get("class") or "").split()


def _language(value: str) -> str:
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return _KZ_CODES.get(primary, primary)


@dataclass
class _Version:
    """One assessmentItem file: one language version of an item."""

    where: str
    identifier: str
    code: str
    language: str
    item_format: str
    stem: str
    options: tuple[str, ...]
    key: dict[str, Any]
    state: str
    shared: dict[str, Any] | None  # item-level Tandau metadata; None for items from other tools
    stimulus: tuple[str | None, str] | None = None  # (title, text) copied into the body


@dataclass
class _ItemReader:
    """Reads one normalised assessmentItem, recording problems against its file and identifier."""

    root: ET.Element
    where: str
    dialect: str
    problems: list[ImportProblem]
    label: str | None = None
    exact: bool = False
    declarations: dict[str, ET.Element] = field(default_factory=dict)
    refused: bool = False  # content that cannot become a Tandau item (images, MathML)

    def problem(self, name: str | None, message: str) -> None:
        shown = None if name is None else _display(name, self.dialect)
        self.problems.append(ImportProblem(self.where, self.label, shown, message))

    def text(self, element: ET.Element, name: str) -> str:
        """Text of ``element`` (the ``name`` field): exact for Tandau's own items, else as lines."""
        return _exact_text(element) if self.exact else self.lines(element, name)

    def lines(self, element: ET.Element, name: str, skip: Collection[int] = ()) -> str:
        """Text of other tools' markup, one line per block; media refuse the item."""
        media: list[str] = []
        lines = _flow_lines(element, skip, media)
        if media:
            self.problem(name, f"contains {sorted(set(media))}, which a Tandau item (text only) cannot hold")
            self.refused = True
        return "\n".join(lines)

    def choices(self, parent: ET.Element, tag: str) -> tuple[list[str], list[str]]:
        ids: list[str] = []
        texts: list[str] = []
        for position, choice in enumerate(parent.findall(tag), start=1):
            identifier = (choice.get("identifier") or "").strip()
            if not identifier:
                self.problem(f"{tag}[{position}]", "has no identifier")
            elif identifier in ids:
                self.problem(f"{tag}[{position}]", f"identifier {identifier!r} is used by another choice too")
            ids.append(identifier)
            texts.append(self.text(choice, f"{tag}[{position}]"))
        if not ids:
            self.problem(tag, f"{_display(parent.tag, self.dialect)} has no {_display(tag, self.dialect)}")
        return ids, texts

    def correct(self, interaction: ET.Element) -> list[str] | None:
        response = interaction.get("responseIdentifier") or ""
        declaration = self.declarations.get(response)
        if declaration is None:
            self.problem("responseDeclaration", f"none declares the interaction's response {response!r}")
            return None
        correct = declaration.find("correctResponse")
        if correct is None:
            self.problem("correctResponse", f"is missing for {response!r}; Tandau needs the key")
            return None
        return [(value.text or "").strip() for value in correct.findall("value")]

    def single(self, interaction: ET.Element, ids: Sequence[str]) -> int | None:
        """Index of the one correct choice (of ``ids``) of a single-answer choice interaction."""
        max_choices = (interaction.get("maxChoices") or "1").strip()
        declaration = self.declarations.get(interaction.get("responseIdentifier") or "")
        cardinality = declaration.get("cardinality") if declaration is not None else "single"
        if max_choices != "1" or cardinality != "single":
            message = (
                f"must allow exactly one answer, got maxChoices={max_choices!r}, cardinality={cardinality!r}"
            )
            self.problem("choiceInteraction", message)
        values = self.correct(interaction)
        if values is None:
            return None
        if len(values) != 1 or values[0] not in ids:
            self.problem("correctResponse", f"must name one of the choices {list(ids)}, got {values}")
            return None
        return ids.index(values[0])

    def read(self, interactions: list[ET.Element]) -> tuple[str, list[str], dict[str, Any]] | None:
        """Format, option texts and key from the interactions."""
        kinds = [node.tag for node in interactions]
        if kinds == ["choiceInteraction"]:
            ids, options = self.choices(interactions[0], "simpleChoice")
            correct = self.single(interactions[0], ids)
            return "single_best", options, ({} if correct is None else {"correct": correct})
        if kinds == ["choiceInteraction", "choiceInteraction"]:
            most, least = interactions
            if "LEAST" in (most.get("responseIdentifier") or "").upper():
                most, least = least, most
            most_ids, options = self.choices(most, "simpleChoice")
            least_ids, least_options = self.choices(least, "simpleChoice")
            if options != least_options:
                message = "the most and least effective choices must be the same options in the same order"
                self.problem("simpleChoice", message)
            keyed = self.single(most, most_ids), self.single(least, least_ids)
            key = {} if None in keyed else {"most": keyed[0], "least": keyed[1]}
            return "sjt_most_least", options, key
        if kinds == ["orderInteraction"]:
            ids, options = self.choices(interactions[0], "simpleChoice")
            order = self.correct(interactions[0])
            if order is None:
                return "sjt_rank", options, {}
            if sorted(order) != sorted(ids):
                self.problem(
                    "correctResponse", f"must list every choice {ids} once in the expert order, got {order}"
                )
                return "sjt_rank", options, {}
            return "sjt_rank", options, {"rank": [order.index(identifier) + 1 for identifier in ids]}
        if kinds == ["matchInteraction"]:
            return self.rate(interactions[0])
        if not kinds:
            self.problem("itemBody", "has no choice, order or match interaction")
        else:
            shown = [_display(kind, self.dialect) for kind in kinds]
            message = (
                f"has interactions {shown}; Tandau reads one choice, order or match interaction, or two "
                "choice interactions (most and least effective)"
            )
            self.problem("itemBody", message)
        return None

    def rate(self, interaction: ET.Element) -> tuple[str, list[str], dict[str, Any]]:
        sets = interaction.findall("simpleMatchSet")
        if len(sets) != 2:
            self.problem(
                "simpleMatchSet", f"a rating grid needs 2 sets (options, rating levels), got {len(sets)}"
            )
            return "sjt_rate", [], {}
        ids, options = self.choices(sets[0], "simpleAssociableChoice")
        levels, _ = self.choices(sets[1], "simpleAssociableChoice")
        if len(levels) != len(_RATINGS):
            message = (
                f"the second set must hold the {len(_RATINGS)} rating levels 1-4, got {len(levels)} choices"
            )
            self.problem("simpleMatchSet", message)
            return "sjt_rate", options, {}
        pairs = self.correct(interaction)
        if pairs is None:
            return "sjt_rate", options, {}
        ratings: dict[str, int] = {}
        for pair in pairs:
            option, _, level = pair.partition(" ")
            if option not in ids or level.strip() not in levels or option in ratings:
                message = f"must pair every option {ids} with one rating level {levels} once, got {pairs}"
                self.problem("correctResponse", message)
                return "sjt_rate", options, {}
            ratings[option] = levels.index(level.strip()) + 1
        if set(ratings) != set(ids):
            self.problem("correctResponse", f"rates {sorted(ratings)} but the options are {ids}")
            return "sjt_rate", options, {}
        return "sjt_rate", options, {"ratings": [ratings[identifier] for identifier in ids]}


def _read_metadata(
    resource: ET.Element | None, where: str, problems: list[ImportProblem]
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Per-version (code, language, state) and item-level Tandau metadata of a manifest resource."""
    meta = None if resource is None else resource.find(f".//{{{TANDAU_NS}}}item")
    if meta is None:
        return {}, None
    own = {name: meta.get(name, "") for name in ("code", "language", "state") if meta.get(name)}
    shared: dict[str, Any] = {"status": meta.get("status") or "draft"}
    for name in ("domain", "topic", "competence", "stimulus"):
        shared[name] = meta.get(name)
    shared["tags"] = tuple(node.text or "" for node in meta.findall(f"{{{TANDAU_NS}}}tag"))
    shared["enemies"] = tuple(node.text or "" for node in meta.findall(f"{{{TANDAU_NS}}}enemy"))
    shared["scoring"] = {}
    scoring = meta.find(f"{{{TANDAU_NS}}}scoring")
    if scoring is not None:
        try:
            value = json.loads(scoring.text or "")
        except ValueError:
            value = None
        if isinstance(value, dict):
            shared["scoring"] = value
        else:
            message = f"must be a JSON object of scoring options, got {scoring.text!r}"
            problems.append(ImportProblem(where, own.get("code"), "tandau:scoring", message))
    return own, shared


def _read_item_file(
    root: ET.Element,
    where: str,
    resource: ET.Element | None,
    defaults: Mapping[str, str],
    problems: list[ImportProblem],
    seen_codes: set[str],
) -> _Version | None:
    """One language version from an item file; ``seen_codes`` gets its code even when it is refused."""
    namespace, local = _split_tag(root.tag)
    dialect = _READ_NS.get(namespace)
    if dialect is None or local not in ("assessmentItem", "qti-assessment-item"):
        message = f"is not a QTI 2.1, 2.2 or 3.0 assessmentItem (root element {root.tag!r})"
        problems.append(ImportProblem(where, None, None, message))
        return None
    _normalise(root, namespace, dialect)
    reader = _ItemReader(root, where, dialect, problems)
    identifier = (root.get("identifier") or "").strip()
    reader.label = identifier or None
    if not identifier:
        reader.problem("identifier", "is missing")
    own, shared = _read_metadata(resource, where, problems)
    reader.exact = root.get("toolName") == _TOOL_NAME

    suffix = next((lang for lang in LANGUAGES if identifier.endswith("." + lang)), None)
    declared = root.get(_XML_LANG)
    language = own.get("language") or (_language(declared) if declared else None) or suffix
    language = language or defaults.get("language")
    if declared and _language(declared) not in LANGUAGES:
        reader.problem(
            "xml:lang",
            f"must be one of {list(LANGUAGES)} (a region such as ru-RU may follow), got {declared!r}",
        )
        reader.refused = True
    elif not language:
        message = f"is missing; set it to one of {list(LANGUAGES)} or pass defaults={{'language': ...}}"
        reader.problem("xml:lang", message)
    code = own.get("code") or (identifier[:-3] if suffix else identifier)
    seen_codes.add(code)

    for declaration in root.iter("responseDeclaration"):
        reader.declarations[declaration.get("identifier") or ""] = declaration
    body = root.find("itemBody")
    if body is None:
        reader.problem("itemBody", "is missing")
        return None
    interactions = [
        node for node in body.iter() if isinstance(node.tag, str) and node.tag.endswith("Interaction")
    ]
    for node in interactions:
        if node.tag not in _READ_INTERACTIONS:
            reader.problem(node.tag, "is not supported; Tandau imports choice, order and match interactions")
    read = reader.read(interactions) if all(node.tag in _READ_INTERACTIONS for node in interactions) else None

    skip: set[int] = set()
    stimulus = None
    stimulus_block = next((node for node in body.iter() if _has_class(node, "tandau-stimulus")), None)
    if stimulus_block is not None and shared is not None and shared.get("stimulus"):
        skip.add(id(stimulus_block))
        heading = stimulus_block.find("h2")
        paragraphs = [reader.text(node, "div.tandau-stimulus") for node in stimulus_block.findall("p")]
        title = None if heading is None else reader.text(heading, "div.tandau-stimulus")
        stimulus = (title, "\n".join(paragraphs))
    stem_block = next((node for node in body.iter() if _has_class(node, "tandau-stem")), None)
    prompt = interactions[0].find("prompt") if len(interactions) == 1 else None
    if stem_block is not None:
        stem = "\n".join(reader.text(node, "div.tandau-stem") for node in stem_block.findall("p"))
    elif reader.exact and prompt is not None:
        stem = _exact_text(prompt)
    else:
        stem = reader.lines(body, "itemBody", skip)
    if read is None or reader.refused or not identifier or not language:
        return None
    item_format, options, key = read
    state = own.get("state") or defaults.get("state") or "draft"
    return _Version(
        where, identifier, code, language, item_format, stem, tuple(options), key, state, shared, stimulus
    )


def _unsafe_name(name: str) -> bool:
    parts = re.split(r"[\\/]", name)
    return name.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:", name)) or ".." in parts or "\0" in name


def _open_package(data: bytes, filename: str, limits: ZipLimits) -> zipfile.ZipFile:
    def fail(message: str) -> ImportFailed:
        return ImportFailed([ImportProblem(filename, None, None, message)])

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise fail(f"is not a zip file (an IMS content package): {exc}") from None
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise fail(f"has {len(infos)} files; the limit is {limits.max_members}")
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise fail(f"would expand to {total} bytes; the limit is {limits.max_total_bytes}")
    problems = []
    seen: set[str] = set()
    for info in infos:
        if _unsafe_name(info.filename):
            message = "member name is absolute or climbs out of the package with '..'; refused"
            problems.append(ImportProblem(f"{filename}/{info.filename}", None, None, message))
        elif info.filename in seen:
            problems.append(
                ImportProblem(f"{filename}/{info.filename}", None, None, "appears twice in the zip")
            )
        seen.add(info.filename)
    if problems:
        raise ImportFailed(problems)
    return archive


def _read_member(
    archive: zipfile.ZipFile, name: str, where: str, limits: ZipLimits, problems: list[ImportProblem]
) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        problems.append(ImportProblem(where, None, None, "is listed in the manifest but not in the zip"))
        return None
    limit = limits.max_member_bytes
    if info.file_size > limit:
        problems.append(ImportProblem(where, None, None, f"is {info.file_size} bytes; the limit is {limit}"))
        return None
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
        problems.append(ImportProblem(where, None, None, f"cannot be read from the zip: {exc}"))
        return None
    if len(data) > limit:
        message = f"expands beyond {limit} bytes although the zip declares {info.file_size}; refused"
        problems.append(ImportProblem(where, None, None, message))
        return None
    return data


def _read_manifest(
    archive: zipfile.ZipFile, filename: str, limits: ZipLimits, problems: list[ImportProblem]
) -> tuple[list[tuple[str, ET.Element]], dict[str, Stimulus]]:
    """``(member name, resource element)`` of every QTI item the manifest lists, and Tandau's stimuli."""
    manifests = sorted(
        (name for name in archive.namelist() if posixpath.basename(name) == _MANIFEST), key=len
    )
    if not manifests:
        problems.append(
            ImportProblem(filename, None, None, f"has no {_MANIFEST}; is it an IMS content package?")
        )
        return [], {}
    where = f"{filename}/{manifests[0]}"
    data = _read_member(archive, manifests[0], where, limits, problems)
    manifest = None if data is None else _parse_xml(data, where, problems)
    if manifest is None:
        return [], {}
    base = posixpath.dirname(manifests[0])
    found: list[tuple[str, ET.Element]] = []
    for resource in manifest.iter():
        if not isinstance(resource.tag, str) or _split_tag(resource.tag)[1] != "resource":
            continue
        if not (resource.get("type") or "").startswith("imsqti_item_xmlv"):
            continue  # tests, stylesheets, images, shared media
        href = resource.get("href")
        if not href:
            files = [node for node in resource if _split_tag(node.tag)[1] == "file" and node.get("href")]
            href = files[0].get("href") if files else None
        label = resource.get("identifier")
        if not href:
            problems.append(ImportProblem(where, label, "resource", "names no file (no href)"))
            continue
        path = posixpath.normpath(posixpath.join(base, unquote(href)))
        if _unsafe_name(path) or path.startswith("../"):
            problems.append(
                ImportProblem(where, label, "href", f"{href!r} points outside the package; refused")
            )
            continue
        found.append((path, resource))
    if not found and not problems:
        problems.append(
            ImportProblem(where, None, None, "lists no QTI items (resources of type imsqti_item_...)")
        )
    return found, _manifest_stimuli(manifest, where, problems)


def _shared_from_defaults(item_format: str, defaults: Mapping[str, str]) -> dict[str, Any]:
    family = FORMATS.get(item_format)
    return {
        "status": defaults.get("status", "draft"),
        "domain": defaults.get("domain") if family == "knowledge" else None,
        "topic": defaults.get("topic"),
        "competence": defaults.get("competence") if family == "sjt" else None,
        "stimulus": None,
        "tags": (),
        "enemies": (),
        "scoring": {},
    }


def _assemble(
    code: str, versions: list[_Version], defaults: Mapping[str, str], problems: list[ImportProblem]
) -> tuple[ItemSpec, Locate]:
    first = versions[0]
    by_language: dict[str, _Version] = {}
    for version in versions:
        if version.language in by_language:
            other = by_language[version.language].where
            message = f"item {code!r} already has a {version.language} version in {other}"
            problems.append(ImportProblem(version.where, code, "xml:lang", message))
            continue
        by_language[version.language] = version
        if version.item_format != first.item_format:
            message = f"is a {version.item_format} item, but {first.where} makes it {first.item_format}"
            problems.append(ImportProblem(version.where, code, "itemBody", message))
        elif version.key != first.key:
            message = f"key {version.key} differs from {first.key} in {first.where}"
            problems.append(ImportProblem(version.where, code, "correctResponse", message))
        if version.shared is not None and first.shared is not None and version.shared != first.shared:
            message = f"Tandau metadata {version.shared} differs from {first.shared} in {first.where}"
            problems.append(ImportProblem(version.where, code, "tandau:item", message))
    shared = next((v.shared for v in versions if v.shared is not None), None)
    from_defaults = shared is None
    item = ItemSpec(
        code=code,
        format=first.item_format,
        versions={lang: LanguageVersion(v.stem, v.options, v.state) for lang, v in by_language.items()},
        key=first.key,
        **(shared if shared is not None else _shared_from_defaults(first.item_format, defaults)),
    )

    def locate(field_name: str | None, message: str) -> ImportProblem:
        match = re.match(r"versions\.([^.]+)", field_name or "")
        version = by_language.get(match.group(1), first) if match else first
        if from_defaults and field_name in ("domain", "competence"):
            message += (
                f" (the package does not say; pass defaults={{{field_name!r}: ...}} for other tools' items)"
            )
        return ImportProblem(version.where, code, field_name, message)

    return item, locate


def _manifest_stimuli(manifest: ET.Element, where: str, problems: list[ImportProblem]) -> dict[str, Stimulus]:
    """The stimuli a Tandau package carries whole in its manifest metadata."""
    stimuli: dict[str, Stimulus] = {}
    for node in manifest.iter(f"{{{TANDAU_NS}}}stimulus"):
        code = node.get("code") or ""
        texts, titles = (
            {part.get("language") or "": part.text or "" for part in node.iter(f"{{{TANDAU_NS}}}{name}")}
            for name in ("text", "title")
        )
        stimulus = Stimulus(code, texts, titles)
        found = stimulus_problems(stimulus)
        if code in stimuli:
            found.append(("code", f"stimulus {code!r} appears twice"))
        problems.extend(
            ImportProblem(where, None, f"tandau:stimulus.{name}", message) for name, message in found
        )
        stimuli[code] = stimulus
    return stimuli


def _check_copies(
    groups: Mapping[str, list[_Version]], stimuli: Mapping[str, Stimulus], problems: list[ImportProblem]
) -> None:
    """The stimulus text copied into an item must be the stimulus's text in the item's language."""
    for versions in groups.values():
        for version in versions:
            stimulus = stimuli.get((version.shared or {}).get("stimulus") or "")
            if stimulus is None or version.stimulus is None:
                continue
            lang = version.language
            if version.stimulus != (stimulus.title.get(lang), stimulus.texts.get(lang)):
                message = (
                    f"the copy of stimulus {stimulus.code!r} ({lang}) differs from the one in {_MANIFEST}"
                )
                problems.append(ImportProblem(version.where, version.code, "div.tandau-stimulus", message))


def read_qti_package(
    data: bytes,
    filename: str = "package.zip",
    *,
    known_codes: Collection[str] = (),
    known_stimuli: Collection[str] = (),
    defaults: Mapping[str, str] | None = None,
    limits: ZipLimits = _DEFAULT_LIMITS,
) -> tuple[list[ItemSpec], list[Stimulus]]:
    """Items and stimuli of a QTI 2.1, 2.2 or 3.0 content package, all validated.

    Parameters
    ----------
    data : bytes
        The zip.
    filename : str
        Name used in problem reports; members appear as ``filename/member``.
    known_codes, known_stimuli : collection of str
        Codes of items and stimuli already in the bank, which enemies and stimulus references may name.
    defaults : mapping, optional
        Values for what a package from another tool does not say, by name: ``language`` (when an item has no
        ``xml:lang``), ``state``, ``status``, ``domain``, ``topic``, ``competence``.
    limits : ZipLimits
        Bounds on the package.

    Returns
    -------
    items : list of ItemSpec
        In manifest order of their first language version.
    stimuli : list of Stimulus
        The stimuli in the manifest's Tandau metadata, in its order.

    Raises
    ------
    ImportFailed
        Listing every problem with the member of the zip, the item identifier and the QTI element.
    ValueError
        If ``defaults`` names something other than the fields above.
    """
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(_DEFAULT_FIELDS))
    if unknown:
        raise ValueError(f"defaults may name {list(_DEFAULT_FIELDS)}, got {unknown}")
    archive = _open_package(data, filename, limits)
    problems: list[ImportProblem] = []
    groups: dict[str, list[_Version]] = {}
    resources, stimuli = _read_manifest(archive, filename, limits, problems)
    seen: set[str] = set()  # codes of every item file, including refused ones, which references may name
    for member, resource in resources:
        where = f"{filename}/{member}"
        content = _read_member(archive, member, where, limits, problems)
        root = None if content is None else _parse_xml(content, where, problems)
        version = None if root is None else _read_item_file(root, where, resource, defaults, problems, seen)
        if version is not None:
            groups.setdefault(version.code, []).append(version)

    items: list[tuple[ItemSpec, Locate]] = []
    for code, versions in groups.items():
        item, locate = _assemble(code, versions, defaults, problems)
        problems.extend(validation_problems(item, locate))
        items.append((item, locate))

    _check_copies(groups, stimuli, problems)
    problems.extend(reference_problems(items, set(stimuli), {*known_codes, *seen}, known_stimuli))
    if problems:
        raise ImportFailed(problems)
    return [item for item, _ in items], list(stimuli.values())
