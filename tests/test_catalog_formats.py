"""Each platform format parses into the normalised Product (fixtures written from the documented columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_writer.ingest.catalog import parse_mapping, read_catalog
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.ingest.formats import detect

CATS = Path(__file__).parent / "fixtures" / "catalogs"


def by_id(cat) -> dict:
    return {p.id: p for p in cat.products}


def test_shopify_old_headers_group_variants_and_metafields():
    cat = read_catalog(CATS / "shopify_old.csv")
    assert cat.format == "shopify" and cat.description_column == "Body (HTML)"
    shirt = by_id(cat)["linen-field-shirt"]
    assert shirt.title == "Linen Field Shirt" and shirt.brand == "Fernhill"
    assert shirt.options == {"Size": ["S", "M", "L"], "Color": ["Sand", "Moss"]}
    assert shirt.attributes["Fabric"] == "Washed linen" and shirt.attributes["Type"] == "Shirt"
    assert shirt.category == ["Apparel & Accessories", "Clothing", "Shirts & Tops"]
    assert shirt.rows == [2, 3, 4, 5] and shirt.main_row == 0 and shirt.price == "68.00"
    assert shirt.description.endswith("- Chest pocket\n- Mother-of-pearl buttons")
    beanie = by_id(cat)["wool-beanie"]
    assert beanie.options == {}  # Shopify's "Title: Default Title" placeholder is not an option
    assert "merino & kept" in beanie.description and "&amp;" in beanie.description_html
    assert beanie.category == ["Hat"]  # no Product Category: Type


def test_shopify_new_headers():
    cat = read_catalog(CATS / "shopify_new.csv")
    assert cat.format == "shopify" and cat.description_column == "Description"
    sock = by_id(cat)["trail-runner-sock"]
    assert sock.options == {"Size": ["M", "L"], "Color": ["Grey", "Red"]}
    assert sock.price == "14.00" and sock.rows == [2, 3, 4]
    assert by_id(cat)["summit-water-bottle"].description == "Short."


def test_woocommerce_variations_fold_into_parent():
    cat = read_catalog(CATS / "woocommerce.csv")
    assert cat.format == "woocommerce"
    hoodie = by_id(cat)["101"]
    assert hoodie.options == {"Size": ["S", "M", "L"]}
    assert hoodie.attributes["Material"] == "Organic cotton" and hoodie.brand == "Saltmarsh"
    assert hoodie.category == ["Clothing", "Hoodies"] and hoodie.price == "55"
    assert hoodie.rows == [2, 3, 4]  # parent + variation by id:101 + variation by parent SKU
    assert "water.\n\nBrushed inside" in hoodie.description  # exporter's literal \n decoded
    assert set(by_id(cat)) == {"101", "104"}
    assert any(p.row == 6 and "id:999" in p.message for p in cat.problems)


def test_magento_configurable_children_folded():
    cat = read_catalog(CATS / "magento.csv")
    assert cat.format == "magento"
    tee = by_id(cat)["GT01"]
    assert set(by_id(cat)) == {"GT01", "YM01"}  # children and the store-view row are not products
    assert tee.options == {"Size": ["S", "M"], "Colour": ["Blue", "Green"]}  # labels from variation_labels
    assert tee.category == ["Women", "Tops", "Tees"]
    assert tee.attributes == {"Material": "Polyester, Elastane", "Pattern": "Solid", "Climate": "Warm, Hot"}
    assert tee.brand == "Luna" and tee.main_row == 3 and tee.rows == [2, 3, 4, 5, 6]
    assert by_id(cat)["YM01"].attributes["Activity"] == "Yoga, Pilates"


def test_merchant_feed_grouped_by_item_group():
    cat = read_catalog(CATS / "merchant.tsv")
    assert cat.format == "merchant" and cat.delimiter == "\t"
    jacket = by_id(cat)["RJ"]
    assert jacket.options == {"Color": ["Black", "Olive"], "Size": ["S", "M"]}
    assert jacket.attributes["Waterproof rating"] == "10000 mm"
    assert jacket.attributes["Highlights"] == "Taped seams; Packable into its own pocket"
    assert jacket.category == ["Apparel", "Outerwear", "Rain Jackets"] and jacket.rows == [2, 3, 4]
    cap = by_id(cat)["CAP-1"]
    assert cap.attributes["Color"] == "Brown" and cap.options == {}
    assert cap.category[-1] == "Hats"  # textual google_product_category


@pytest.mark.parametrize("items", [
    [str(CATS / "generic-map.yaml")],
    ["id=Article", "title=Name", "description=Copy", "brand=Maker", "category=Section", "price=Cost",
     "attr:Material=Mat", "attr:Colour=Col"],
])
def test_generic_with_mapping(items):
    cat = read_catalog(CATS / "generic.csv", mapping=parse_mapping(items))
    assert cat.format == "generic" and cat.delimiter == ";" and cat.description_column == "Copy"
    board = by_id(cat)["A-1"]
    assert board.brand == "Woodrow" and board.category == ["Kitchen", "Boards"] and board.price == "45,00"
    assert board.attributes == {"Material": "Oak", "Colour": "Natural"}
    assert by_id(cat)["A-2"].category == ["Kitchen", "Utensils"]
    assert cat.duplicates == 1 and "A-3" not in by_id(cat) and cat.duplicate_of == {2: "A-1"}


def test_generic_guesses_columns_and_errors_on_bad_mapping():
    cat = read_catalog(CATS / "generic.csv")
    assert by_id(cat)["A-2"].title == "Walnut Spoon"
    assert "Picture" not in by_id(cat)["A-1"].attributes  # image columns are not attributes
    with pytest.raises(CatalogWriterError, match="no such column"):
        read_catalog(CATS / "generic.csv", mapping={"title": "Nope"})
    with pytest.raises(CatalogWriterError, match="bad --map item"):
        parse_mapping(["colour=Col"])


def test_generic_options_fold_rows(tmp_path):
    f = tmp_path / "variants.csv"
    f.write_text("sku,name,size\nT1,Tee,S\nT1,Tee,M\nT2,Cap,\n")
    cat = read_catalog(f, mapping=parse_mapping(["id=sku", "option:Size=size"]))
    assert [(p.id, p.options, p.rows) for p in cat.products] == [
        ("T1", {"Size": ["S", "M"]}, [2, 3]), ("T2", {}, [4])]


def test_detect_and_override():
    assert detect(["Handle", "Title", "Body (HTML)"]) == "shopify"
    assert detect(["URL handle", "Title", "Description"]) == "shopify"
    assert detect(["ID", "Type", "SKU", "Name", "Regular price"]) == "woocommerce"
    assert detect(["sku", "name", "product_type", "additional_attributes"]) == "magento"
    assert detect(["g:id", "g:title", "g:link", "g:price"]) == "merchant"
    assert detect(["Name", "Copy"]) == "generic"
    # A Shopify file read as generic still works (columns guessed), but not as Magento.
    assert read_catalog(CATS / "shopify_old.csv", format="generic").format == "generic"
    with pytest.raises(CatalogWriterError, match="not a Magento file"):
        read_catalog(CATS / "shopify_old.csv", format="magento")
    with pytest.raises(CatalogWriterError, match="unknown format"):
        read_catalog(CATS / "shopify_old.csv", format="etsy")


def test_inspect_json_via_cli():
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    result = CliRunner().invoke(app, ["inspect", str(CATS / "generic.csv"), "--map",
                                      str(CATS / "generic-map.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "generic" and report["rows"] == 4 and report["products"] == 3
    assert report["with_description"] == 3 and report["duplicates"] == 1 and report["empty_titles"] == 1
    assert report["attributes"] == {"Material": 1.0, "Colour": pytest.approx(0.667, abs=1e-3)}
    assert {(p["row"], p["column"]) for p in report["problems"]} >= {(5, "title"), (4, None)}
    text = CliRunner().invoke(app, ["inspect", str(CATS / "magento.csv")])
    assert text.exit_code == 0 and "magento" in text.stdout and "Colour" in text.stdout


def test_magento_luma_configurables(shared_dir):
    luma = shared_dir / "data" / "magento-luma"
    cat = read_catalog(luma / "configurable_products.csv")
    assert cat.format == "magento" and len(cat.table) == 1994
    assert len(cat.products) == 147 and cat.duplicates == 0
    assert all(p.options.get("Size") and p.options.get("Color") for p in cat.products)
    hoodie = by_id(cat)["MH01"]
    assert hoodie.options == {"Size": ["XS", "S", "M", "L", "XL"], "Color": ["Black", "Gray", "Orange"]}
    assert hoodie.category == ["Men", "Tops", "Hoodies & Sweatshirts"] and hoodie.attributes["Material"] == "Wool"
    assert "- Two-tone gray heather hoodie." in hoodie.description
    assert sum(len(p.rows) for p in cat.products) == 1994  # every child row is folded somewhere
    for f in sorted(luma.glob("products_gear_*.csv")):
        gear = read_catalog(f)
        assert gear.format == "magento" and gear.products and all(p.title and p.description for p in gear.products)


def test_yaml_attribute_list_and_cli_items(tmp_path):
    (tmp_path / "m.yaml").write_text("title: Name\ndescription: Copy\nattributes: [Mat, Col]\n")
    mapping = parse_mapping([str(tmp_path / "m.yaml"), "brand=Maker"])
    assert mapping == {"title": "Name", "description": "Copy", "attr:Mat": "Mat", "attr:Col": "Col",
                       "brand": "Maker"}
    board = read_catalog(CATS / "generic.csv", mapping=mapping).products[0]
    assert board.attributes == {"Mat": "Oak", "Col": "Natural"} and board.brand == "Woodrow"
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(CatalogWriterError, match="YAML mapping"):
        parse_mapping([str(tmp_path / "bad.yaml")])


def test_merchant_csv_with_g_prefixes(tmp_path):
    f = tmp_path / "feed.csv"
    f.write_text("g:id,g:title,g:description,g:link,g:price,g:brand,g:color\n"
                 "M1,Felt Slipper,Warm boiled wool slippers with a leather sole for cold floors.,"
                 "https://example.com/m1,30 EUR,Hut,Grey\n")
    cat = read_catalog(f)
    assert cat.format == "merchant" and cat.description_column == "g:description"
    p = cat.products[0]
    assert (p.id, p.brand, p.attributes) == ("M1", "Hut", {"Color": "Grey"})


def test_magento_store_view_rows_and_unlisted_children(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("sku,store_view_code,product_type,name,description,visibility,additional_attributes\n"
                 "S1,,simple,Lone Sock,<p>A single sock.</p>,Not Visible Individually,\"size=M,color=Red\"\n"
                 "S1,de,simple,Einzelsocke,<p>Eine Socke.</p>,,\n"
                 "X9,de,simple,Ghost,,,\n")
    cat = read_catalog(f)
    assert [(p.id, p.rows, p.attributes) for p in cat.products] == [
        ("S1", [2, 3], {"Size": "M", "Color": "Red"})]
    assert any(p.row == 4 and "unknown sku" in p.message for p in cat.problems)
