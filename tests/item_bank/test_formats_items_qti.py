"""QTI 2.1 and 3.0 packages: round trips, items as TAO writes them, and packages that must be refused."""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from item_bank.formats.errors import ImportFailed
from item_bank.formats.qti import TANDAU_NS, ZipLimits, read_qti_package, write_qti_package
from item_bank.items import ItemSpec, LanguageVersion, score_response
from tests.item_bank.test_formats_items_json import banks, sample_bank, sample_stimuli

QTI21 = "http://www.imsglobal.org/xsd/imsqti_v2p1"
QTI30 = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"


def parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - the writer's own output


def members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)  # a ZipInfo keeps the name exactly as given, "../" and all
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def problems_of(call):
    with pytest.raises(ImportFailed) as caught:
        call()
    return caught.value.problems


def edited_package(version: str, member: str, old: str, new: str) -> bytes:
    files = members(write_qti_package(sample_bank(), sample_stimuli(), version=version))
    text = files[member].decode("utf-8")
    assert old in text
    files[member] = text.replace(old, new).encode("utf-8")
    return zipped(files)


# Round trips and layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_every_format_round_trips_with_languages_stimuli_tags_and_enemies(version):
    items, stimuli = read_qti_package(write_qti_package(sample_bank(), sample_stimuli(), version=version))
    assert items == sample_bank()
    assert stimuli == sample_stimuli()


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_the_same_bank_gives_the_same_bytes(version):
    first = write_qti_package(sample_bank(), sample_stimuli(), version=version)
    assert first == write_qti_package(sample_bank(), sample_stimuli(), version=version)


def test_each_language_is_an_assessment_item_of_its_own_listed_in_the_manifest():
    files = members(write_qti_package(sample_bank(), sample_stimuli()))
    manifest = parse(files["imsmanifest.xml"])
    cp = "{http://www.imsglobal.org/xsd/imscp_v1p1}"
    resources = manifest.findall(f"{cp}resources/{cp}resource")
    assert [r.get("identifier") for r in resources[:3]] == ["K-001.kk", "K-001.ru", "K-001.en"]
    assert {r.get("type") for r in resources} == {"imsqti_item_xmlv2p1"}
    meta = resources[1].find(f"{cp}metadata/{{{TANDAU_NS}}}item")
    assert meta.attrib == {
        "code": "K-001",
        "language": "ru",
        "state": "reviewed",
        "status": "operational",
        "domain": "civil",
        "topic": "limitation",
        "stimulus": "CASE-1",
    }
    item = parse(files["items/K-001.ru.xml"])
    assert item.tag == f"{{{QTI21}}}assessmentItem"
    assert item.get("identifier") == "K-001.ru"
    assert item.get("{http://www.w3.org/XML/1998/namespace}lang") == "ru"


def test_single_best_is_a_single_choice_with_the_match_correct_template():
    item = parse(members(write_qti_package(sample_bank()[1:2]))["items/K-002.ru.xml"])
    ns = {"q": QTI21}
    declaration = item.find("q:responseDeclaration", ns)
    assert declaration.attrib == {"identifier": "RESPONSE", "cardinality": "single", "baseType": "identifier"}
    assert [v.text for v in declaration.findall("q:correctResponse/q:value", ns)] == ["A"]
    interaction = item.find("q:itemBody/q:choiceInteraction", ns)
    assert interaction.get("maxChoices") == "1"
    assert len(interaction.findall("q:simpleChoice", ns)) == 5
    processing = item.find("q:responseProcessing", ns)
    assert (
        processing.get("template") == "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"
    )


def test_qti3_uses_prefixed_kebab_case_names_and_its_own_namespaces():
    files = members(write_qti_package(sample_bank(), sample_stimuli(), version="3.0"))
    manifest = parse(files["imsmanifest.xml"])
    assert manifest.tag == "{http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1}manifest"
    item = parse(files["items/K-001.en.xml"])
    names = {node.tag.removeprefix(f"{{{QTI30}}}") for node in item.iter()}
    expected = {
        "assessment-item",
        "response-declaration",
        "correct-response",
        "choice-interaction",
        "simple-choice",
    }
    assert {f"qti-{name}" for name in expected | {"item-body", "prompt"}} <= names
    assert not any(
        name[0].isupper() or (name.startswith("qti") and not name.startswith("qti-")) for name in names
    )
    interaction = item.find(f".//{{{QTI30}}}qti-choice-interaction")
    assert interaction.get("response-identifier") == "RESPONSE" and interaction.get("max-choices") == "1"
    template = item.find(f"{{{QTI30}}}qti-response-processing").get("template")
    assert template == "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"


def test_rank_key_is_the_expert_order_of_an_order_interaction():
    item = parse(members(write_qti_package(sample_bank()[5:6]))["items/S-004.en.xml"])
    ns = {"q": QTI21}
    assert item.find("q:itemBody/q:orderInteraction", ns) is not None
    values = [v.text for v in item.findall("q:responseDeclaration/q:correctResponse/q:value", ns)]
    assert values == ["B", "A", "D", "C"]  # key rank [2, 1, 4, 3]: option B first


def test_most_least_has_two_choice_interactions_scored_a_point_each():
    item = parse(members(write_qti_package(sample_bank()[4:5]))["items/S-003.ru.xml"])
    ns = {"q": QTI21}
    interactions = item.findall("q:itemBody/q:choiceInteraction", ns)
    assert [i.get("responseIdentifier") for i in interactions] == ["RESPONSE_MOST", "RESPONSE_LEAST"]
    assert len(item.findall("q:responseProcessing/q:responseCondition", ns)) == 2


def _map_response_score(item_xml: bytes, ratings: tuple[int, ...]) -> float:
    """What a QTI engine computes with the map_response template for the pairs (option, rating)."""
    ns = {"q": QTI21}
    mapping = parse(item_xml).find("q:responseDeclaration/q:mapping", ns)
    points = {entry.get("mapKey"): float(entry.get("mappedValue")) for entry in mapping}
    default = float(mapping.get("defaultValue"))
    return sum(points.get(f"{'ABCDEF'[i]} R{rating}", default) for i, rating in enumerate(ratings))


@pytest.mark.parametrize("rule", [{}, {"rule": "exact"}])
def test_rating_grid_scores_every_response_exactly_as_tandau_does(rule):
    item = ItemSpec(
        code="S-9",
        format="sjt_rate",
        versions={"en": LanguageVersion("Rate each.", ("a", "b", "c", "d"))},
        key={"ratings": [1, 4, 2, 3]},
        competence="integrity",
        scoring=rule,
    )
    xml = members(write_qti_package([item]))["items/S-9.en.xml"]
    for ratings in itertools.product(range(1, 5), repeat=4):
        assert _map_response_score(xml, ratings) == score_response(item, {"ratings": list(ratings)})


def test_codes_that_are_not_xml_names_still_get_valid_unique_identifiers():
    item = sample_bank()[1]
    odd = [
        ItemSpec(**{**item.__dict__, "code": "7/1 ru", "enemies": ()}),
        ItemSpec(**{**item.__dict__, "code": "7_1 ru", "enemies": ()}),
    ]
    package = write_qti_package(odd)
    assert sorted(members(package)) == [
        "imsmanifest.xml", "items/I7_1_ru.en.xml", "items/I7_1_ru.en_2.xml", "items/I7_1_ru.ru.xml",
        "items/I7_1_ru.ru_2.xml",
    ]  # fmt: skip
    assert read_qti_package(package)[0] == odd


def test_writer_refuses_what_it_cannot_write():
    item = sample_bank()[1]
    with pytest.raises(ValueError, match="version"):
        write_qti_package([item], version="2.2")
    with pytest.raises(ValueError, match="CASE-1"):
        write_qti_package(sample_bank()[:1])
    with pytest.raises(ValueError, match="'K-002' is given 2 times"):
        write_qti_package([item, item])
    control = ItemSpec(
        **{**item.__dict__, "versions": {"ru": LanguageVersion("Вопрос\x0b?", ("a", "b", "c", "d"))}}
    )
    with pytest.raises(ValueError, match=r"K-002.*versions\.ru\.stem.*\\x0b"):
        write_qti_package([control])


_xml_line = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=15)
_xml_text = st.lists(_xml_line | st.just(""), min_size=1, max_size=3).map("\n".join).filter(str.strip)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks(text=_xml_text, words=_xml_line), st.sampled_from(["2.1", "3.0"]))
def test_any_bank_round_trips_through_qti(bank, version):
    items, stimuli = bank
    assert read_qti_package(write_qti_package(items, stimuli, version=version)) == (items, stimuli)


# Items from other tools -----------------------------------------------------------------------------

TAO_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" xmlns:imsmd="http://ltsc.ieee.org/xsd/LOM"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" identifier="MANIFEST-tao-0001"
    xsi:schemaLocation="http://www.imsglobal.org/xsd/imscp_v1p1 http://www.imsglobal.org/xsd/qti/qtiv2p1/qtiv2p1_imscpv1p2_v1p0.xsd">
  <metadata>
    <schema>QTIv2.1 Package</schema>
    <schemaversion>1.0.0</schemaversion>
  </metadata>
  <organizations/>
  <resources>
    <resource identifier="i60b7d3c1a2e4f5" type="imsqti_item_xmlv2p1" href="items/i60b7d3c1a2e4f5/qti.xml">
      <metadata>
        <imsmd:lom>
          <imsmd:general>
            <imsmd:identifier>i60b7d3c1a2e4f5</imsmd:identifier>
            <imsmd:title><imsmd:string language="en-US">Limitation period</imsmd:string></imsmd:title>
          </imsmd:general>
        </imsmd:lom>
      </metadata>
      <file href="items/i60b7d3c1a2e4f5/qti.xml"/>
      <file href="items/i60b7d3c1a2e4f5/style/custom/tao-user-styles.css"/>
    </resource>
    <resource identifier="style-1" type="webcontent"
        href="items/i60b7d3c1a2e4f5/style/custom/tao-user-styles.css">
      <file href="items/i60b7d3c1a2e4f5/style/custom/tao-user-styles.css"/>
    </resource>
  </resources>
</manifest>
"""

# Written from the QTI 2.1 specification in the shape TAO exports: grid layout divs, a stylesheet, a
# MAXSCORE outcome, CDATA values, choice attributes TAO sets, and feedback that is not item text.
TAO_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" xmlns:m="http://www.w3.org/1998/Math/MathML"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.imsglobal.org/xsd/imsqti_v2p1 http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
    identifier="i60b7d3c1a2e4f5" title="Limitation period" label="Limitation period" xml:lang="en-US"
    adaptive="false" timeDependent="false" toolName="TAO" toolVersion="3.4.0">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
    <correctResponse>
      <value><![CDATA[choice_3]]></value>
    </correctResponse>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float" normalMaximum="1"/>
  <outcomeDeclaration identifier="MAXSCORE" cardinality="single" baseType="float">
    <defaultValue><value>1</value></defaultValue>
  </outcomeDeclaration>
  <outcomeDeclaration identifier="FEEDBACK" cardinality="single" baseType="identifier"/>
  <stylesheet href="style/custom/tao-user-styles.css" type="text/css" media="all" title=""/>
  <itemBody>
    <div class="grid-row">
      <div class="col-12">
        <p>Under the Civil Code a claim must be
           brought in   time.</p>
      </div>
    </div>
    <div class="grid-row">
      <div class="col-12">
        <choiceInteraction responseIdentifier="RESPONSE" shuffle="true" maxChoices="1" minChoices="0"
            orientation="vertical">
          <prompt>What is the general <strong>limitation</strong> period?</prompt>
          <simpleChoice identifier="choice_1" fixed="false" showHide="show">1 year</simpleChoice>
          <simpleChoice identifier="choice_2" fixed="false" showHide="show">
            2 years
          </simpleChoice>
          <simpleChoice identifier="choice_3" fixed="false" showHide="show"><p>3 <em>years</em></p>
            <feedbackInline outcomeIdentifier="FEEDBACK" identifier="choice_3" showHide="show"
              >Right.</feedbackInline>
          </simpleChoice>
          <simpleChoice identifier="choice_4" fixed="true" showHide="show">10 years</simpleChoice>
        </choiceInteraction>
      </div>
    </div>
  </itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"/>
  <modalFeedback outcomeIdentifier="FEEDBACK" identifier="correct" showHide="show">Well done.</modalFeedback>
</assessmentItem>
"""

TAO_STYLE = "/* user styles */ .qti-choiceInteraction { color: black; }"


def tao_package(item: str = TAO_ITEM, manifest: str = TAO_MANIFEST) -> bytes:
    return zipped(
        {
            "imsmanifest.xml": manifest,
            "items/i60b7d3c1a2e4f5/qti.xml": item,
            "items/i60b7d3c1a2e4f5/style/custom/tao-user-styles.css": TAO_STYLE,
        }
    )


def test_a_tao_style_qti21_item_imports_with_defaults_for_what_qti_does_not_say():
    (item,), stimuli = read_qti_package(
        tao_package(), "tao.zip", defaults={"domain": "civil", "status": "review"}
    )
    assert item == ItemSpec(
        code="i60b7d3c1a2e4f5",
        format="single_best",
        versions={
            "en": LanguageVersion(
                "Under the Civil Code a claim must be brought in time.\n"
                "What is the general limitation period?",
                ("1 year", "2 years", "3 years", "10 years"),
                "draft",
            )
        },
        key={"correct": 2},
        status="review",
        domain="civil",
    )
    assert stimuli == []


def test_without_a_domain_the_problem_says_how_to_give_one():
    (problem,) = problems_of(lambda: read_qti_package(tao_package(), "tao.zip"))
    assert (problem.file, problem.item, problem.field) == (
        "tao.zip/items/i60b7d3c1a2e4f5/qti.xml",
        problem.item,
        "domain",
    )
    assert problem.item == "i60b7d3c1a2e4f5" and "defaults={'domain': ...}" in problem.message


def test_language_versions_from_other_tools_are_grouped_by_identifier_suffix():
    ru = TAO_ITEM.replace('identifier="i60b7d3c1a2e4f5"', 'identifier="LIM-1.ru"').replace("en-US", "ru-RU")
    kk = TAO_ITEM.replace('identifier="i60b7d3c1a2e4f5"', 'identifier="LIM-1.kk"').replace(
        'xml:lang="en-US"', 'xml:lang="kz"'
    )
    second = '<resource identifier="r2" type="imsqti_item_xmlv2p1" href="b/qti.xml"/>'
    manifest = TAO_MANIFEST.replace(
        '<resource identifier="style-1"', second + '<resource identifier="style-1"'
    )
    manifest = manifest.replace("items/i60b7d3c1a2e4f5/qti.xml", "a/qti.xml")
    package = zipped({"imsmanifest.xml": manifest, "a/qti.xml": ru, "b/qti.xml": kk})
    (item,), _ = read_qti_package(package, defaults={"domain": "civil"})
    assert item.code == "LIM-1" and set(item.versions) == {"ru", "kk"}


def test_a_qti3_item_from_another_tool_imports():
    item = """<?xml version="1.0" encoding="UTF-8"?>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="ORDER-7" title="Order"
    time-dependent="false" xml:lang="ru-RU">
  <qti-response-declaration identifier="RESPONSE" cardinality="ordered" base-type="identifier">
    <qti-correct-response><qti-value>C</qti-value><qti-value>A</qti-value><qti-value>D</qti-value>
      <qti-value>B</qti-value></qti-correct-response>
  </qti-response-declaration>
  <qti-outcome-declaration identifier="SCORE" cardinality="single" base-type="float"/>
  <qti-item-body>
    <qti-order-interaction response-identifier="RESPONSE" shuffle="true">
      <qti-prompt><p>Расположите действия от лучшего к худшему.</p></qti-prompt>
      <qti-simple-choice identifier="A">Выслушать стороны</qti-simple-choice>
      <qti-simple-choice identifier="B">Удалить сторону из зала</qti-simple-choice>
      <qti-simple-choice identifier="C">Сделать замечание</qti-simple-choice>
      <qti-simple-choice identifier="D">Объявить перерыв</qti-simple-choice>
    </qti-order-interaction>
  </qti-item-body>
  <qti-response-processing template="https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"/>
</qti-assessment-item>
"""
    manifest = """<manifest xmlns="http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1" identifier="m">
  <resources><resource identifier="ORDER-7" type="imsqti_item_xmlv3p0" href="order%207.xml">
    <file href="order%207.xml"/></resource></resources></manifest>"""
    (spec,), _ = read_qti_package(
        zipped({"imsmanifest.xml": manifest, "order 7.xml": item}), defaults={"competence": "judgement"}
    )
    assert spec.format == "sjt_rank" and spec.key == {"rank": [2, 4, 1, 3]}
    assert spec.versions["ru"].stem == "Расположите действия от лучшего к худшему."


# Refused input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "old", "new", "field", "fragment"),
    [
        ("2.1", "correctResponse>", "correctAnswer>", "correctResponse", "needs the key"),
        ("3.0", "qti-correct-response>", "qti-correct-answer>", "qti-correct-response", "needs the key"),
        ("2.1", "<value>A</value>", "<value>Z</value>", "correctResponse", "'Z'"),
        ("2.1", 'maxChoices="1"', 'maxChoices="2"', "choiceInteraction", "exactly one answer"),
        ("3.0", 'max-choices="1"', 'max-choices="2"', "qti-choice-interaction", "exactly one answer"),
        ("2.1", 'xml:lang="ru"', 'xml:lang="de-DE"', "xml:lang", "'de-DE'"),
        ("2.1", '<simpleChoice identifier="B">', '<simpleChoice identifier="A">', "simpleChoice[2]", "'A'"),
    ],
)
def test_bad_items_are_refused_naming_member_item_and_element(version, old, new, field, fragment):
    package = edited_package(version, "items/K-002.ru.xml", old, new)
    problems = problems_of(lambda: read_qti_package(package, "bank.zip"))
    problem = next(p for p in problems if p.field == field)
    assert (problem.file, problem.item) == ("bank.zip/items/K-002.ru.xml", "K-002.ru")
    assert fragment in problem.message


def test_qti22_items_as_current_tao_exports_them_import_too():
    item = TAO_ITEM.replace("imsqti_v2p1", "imsqti_v2p2").replace("qtiv2p1", "qtiv2p2")
    (spec,), _ = read_qti_package(tao_package(item), defaults={"domain": "civil"})
    assert spec.key == {"correct": 2} and spec.versions["en"].options[2] == "3 years"


def test_inline_markup_does_not_break_lines():
    item = TAO_ITEM.replace("<p>Under the Civil Code", "<p><span><em>Under</em></span> the Civil Code")
    (spec,), _ = read_qti_package(tao_package(item), defaults={"domain": "civil"})
    assert spec.versions["en"].stem.startswith("Under the Civil Code a claim must be brought in time.\n")


def test_unsupported_interactions_are_named():
    text_entry = TAO_ITEM.replace("choiceInteraction", "textEntryInteraction")
    (problem,) = problems_of(
        lambda: read_qti_package(tao_package(text_entry), "tao.zip", defaults={"domain": "x"})
    )
    assert problem.field == "textEntryInteraction" and "not supported" in problem.message


def test_images_in_item_text_are_refused():
    with_image = TAO_ITEM.replace("1 year</simpleChoice>", '<img src="a.png" alt="1 year"/></simpleChoice>')
    (problem,) = problems_of(lambda: read_qti_package(tao_package(with_image), defaults={"domain": "civil"}))
    assert problem.field == "simpleChoice[1]" and "['img']" in problem.message


def test_versions_of_one_item_that_disagree_on_the_key_are_refused():
    package = edited_package("2.1", "items/K-001.en.xml", "<value>C</value>", "<value>D</value>")
    (problem,) = problems_of(lambda: read_qti_package(package, "bank.zip"))
    assert (problem.file, problem.item, problem.field) == (
        "bank.zip/items/K-001.en.xml",
        "K-001",
        "correctResponse",
    )


def test_a_stimulus_copy_edited_in_an_item_file_is_refused():
    package = edited_package("2.1", "items/S-001.ru.xml", "Гражданин Б.", "Гражданка Б.")
    (problem,) = problems_of(lambda: read_qti_package(package, "bank.zip"))
    assert (problem.file, problem.item) == ("bank.zip/items/S-001.ru.xml", "S-001")
    assert "'CASE-1'" in problem.message and "imsmanifest.xml" in problem.message


def test_stimuli_travel_whole_in_the_manifest_even_without_items_in_their_languages():
    stimulus = sample_stimuli()[0]
    item = sample_bank()[3]  # S-002: ru only
    lone = ItemSpec(**{**item.__dict__, "stimulus": "CASE-1"})
    package = write_qti_package([lone], [stimulus])
    assert read_qti_package(package) == ([lone], [stimulus])


def test_validation_problems_name_the_language_versions_file():
    package = edited_package(
        "2.1", "items/S-004.kk.xml", "<prompt>kk: rank the actions.</prompt>", "<prompt> </prompt>"
    )
    (problem,) = problems_of(lambda: read_qti_package(package, "bank.zip"))
    assert (problem.file, problem.item, problem.field) == (
        "bank.zip/items/S-004.kk.xml",
        "S-004",
        "versions.kk.stem",
    )


def test_enemies_must_point_into_the_package_or_the_bank():
    package = write_qti_package(sample_bank()[1:2])  # K-002's enemy K-001 is not in it
    (problem,) = problems_of(lambda: read_qti_package(package, "bank.zip"))
    assert (problem.item, problem.field) == ("K-002", "enemies")
    assert read_qti_package(package, known_codes={"K-001"})[0] == sample_bank()[1:2]


def test_every_problem_is_reported_and_nothing_is_returned():
    files = members(write_qti_package(sample_bank(), sample_stimuli()))
    files["items/K-002.en.xml"] = b"<assessmentItem"
    files["items/S-002.ru.xml"] = files["items/S-002.ru.xml"].replace(b"<correctResponse>", b"<correct>")
    del files["items/S-004.en.xml"]
    problems = problems_of(lambda: read_qti_package(zipped(files), "bank.zip"))
    assert {p.file for p in problems} == {
        "bank.zip/items/K-002.en.xml",
        "bank.zip/items/S-002.ru.xml",
        "bank.zip/items/S-004.en.xml",
    }
    broken = next(p for p in problems if p.file.endswith("K-002.en.xml"))
    assert broken.line == 1 and "well-formed" in broken.message


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE assessmentItem [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE assessmentItem [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE assessmentItem [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',
    ],
)
def test_xml_that_declares_entities_is_refused(doctype):
    item = TAO_ITEM.replace("<assessmentItem", doctype + "\n<assessmentItem", 1)
    (problem,) = problems_of(lambda: read_qti_package(tao_package(item), "tao.zip", defaults={"domain": "x"}))
    assert problem.file == "tao.zip/items/i60b7d3c1a2e4f5/qti.xml" and "ENTITY" in problem.message
    assert problem.line == 2


@pytest.mark.parametrize(
    "name", ["../evil.xml", "/etc/evil.xml", "items/../../evil.xml", "C:\\evil.xml", "..\\evil.xml"]
)
def test_members_that_would_escape_the_package_are_refused(name):
    files = members(write_qti_package(sample_bank(), sample_stimuli()))
    files[name] = b"<x/>"
    (problem,) = problems_of(lambda: read_qti_package(zipped(files), "bank.zip"))
    assert problem.file == f"bank.zip/{name}" and "refused" in problem.message


def test_manifest_hrefs_that_climb_out_are_refused():
    manifest = TAO_MANIFEST.replace('href="items/i60b7d3c1a2e4f5/qti.xml">', 'href="../../etc/passwd">')
    problems = problems_of(lambda: read_qti_package(tao_package(manifest=manifest), "tao.zip"))
    assert [(p.file, p.field) for p in problems] == [("tao.zip/imsmanifest.xml", "href")]


def test_a_member_larger_than_allowed_is_refused():
    package = write_qti_package(sample_bank(), sample_stimuli())
    (problem, *_) = problems_of(
        lambda: read_qti_package(package, "bank.zip", limits=ZipLimits(max_member_bytes=2000))
    )
    assert "limit is 2000" in problem.message


def test_a_package_that_expands_too_far_or_holds_too_many_files_is_refused():
    bomb = zipped({"imsmanifest.xml": TAO_MANIFEST, "padding.bin": b"\0" * 3_000_000})
    assert len(bomb) < 20_000
    (problem,) = problems_of(
        lambda: read_qti_package(bomb, "bomb.zip", limits=ZipLimits(max_total_bytes=2_000_000))
    )
    assert "would expand to" in problem.message
    (problem,) = problems_of(
        lambda: read_qti_package(tao_package(), "tao.zip", limits=ZipLimits(max_members=2))
    )
    assert "has 3 files" in problem.message


def test_a_member_whose_header_understates_its_size_is_refused():
    package = bytearray(tao_package())
    directory = package.index(b"PK\x01\x02")  # central directory entry of the first member, the manifest
    real_size = struct.unpack_from("<I", package, directory + 24)[0]
    struct.pack_into("<I", package, directory + 24, 100)  # uncompressed size claimed in the central directory
    assert real_size > 100
    (problem,) = problems_of(lambda: read_qti_package(bytes(package), "tao.zip"))
    assert problem.file == "tao.zip/imsmanifest.xml"


def test_not_a_zip_or_not_a_package_is_refused():
    (problem,) = problems_of(lambda: read_qti_package(b"PK\x03\x04 not really", "x.zip"))
    assert "not a zip" in problem.message
    (problem,) = problems_of(lambda: read_qti_package(zipped({"items/a.xml": TAO_ITEM}), "x.zip"))
    assert "imsmanifest.xml" in problem.message


def test_unknown_defaults_are_a_programming_error():
    with pytest.raises(ValueError, match="defaults"):
        read_qti_package(tao_package(), defaults={"domian": "civil"})
