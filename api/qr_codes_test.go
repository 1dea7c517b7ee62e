package api

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// decodeQR reads a PNG QR code as a phone's scanner would (an independent
// decoder, not the library that made it).
func decodeQR(t *testing.T, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return decodeQRImage(t, img)
}

func decodeQRImage(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR code does not scan: %v", err)
	}
	return res.GetText()
}

var svgRunRE = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// rasterizeSVG draws the QR code SVG's path, 4 pixels a unit.
func rasterizeSVG(t *testing.T, svg []byte) image.Image {
	t.Helper()
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	vb := strings.Fields(doc.ViewBox)
	if len(vb) != 4 {
		t.Fatalf("viewBox %q", doc.ViewBox)
	}
	side, _ := strconv.Atoi(vb[2])
	const px = 4
	img := image.NewGray(image.Rect(0, 0, side*px, side*px))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for _, m := range svgRunRE.FindAllStringSubmatch(doc.Path.D, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		for yy := y * px; yy < (y+1)*px; yy++ {
			for xx := x * px; xx < (x+w)*px; xx++ {
				img.SetGray(xx, yy, color.Gray{})
			}
		}
	}
	return img
}

func TestQRCodesScanAsTheText(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"https://refer.acme.test/r/MAYA-7Q2K",
		"http://localhost:8080/r/" + strings.Repeat("a", 64),
		"https://r.example/r/x",
	} {
		p, err := QRCodePNG(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, p); got != text {
			t.Fatalf("PNG reads %q, want %q", got, text)
		}
		s, err := QRCodeSVG(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQRImage(t, rasterizeSVG(t, s)); got != text {
			t.Fatalf("SVG reads %q, want %q", got, text)
		}
		if len(p) > 4096 || len(s) > 16384 {
			t.Errorf("%q: PNG %d bytes, SVG %d bytes: larger than a QR code of a link needs", text, len(p), len(s))
		}
	}
	if _, err := QRCodePNG(strings.Repeat("x", maxQRText+1)); err == nil {
		t.Fatal("a text longer than maxQRText was drawn")
	}
}

func TestReferralQRCodeRoutes(t *testing.T) {
	t.Parallel()
	w := newFormWorld(t, PublicLimits{})
	code := w.fx.Member.ReferralCode
	link := w.url + "/r/" + code
	b := w.browser(t, "203.0.113.40")

	// Lower case finds the member too, and the image carries the stored code.
	for _, c := range []string{code, strings.ToLower(code)} {
		p := b.get("/r/" + c + "/qr.png")
		if p.status != http.StatusOK || p.header.Get("Content-Type") != "image/png" || p.header.Get("Cache-Control") != qrCacheControl {
			t.Fatalf("PNG of %s: %d %q %q", c, p.status, p.header.Get("Content-Type"), p.header.Get("Cache-Control"))
		}
		if got := decodeQR(t, []byte(p.body)); got != link {
			t.Fatalf("PNG of %s reads %q, want %q", c, got, link)
		}
	}
	svg := b.get("/r/" + code + "/qr.svg")
	if svg.status != http.StatusOK || svg.header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(svg.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("SVG: %d %q %q", svg.status, svg.header.Get("Content-Type"), svg.header.Get("Content-Security-Policy"))
	}
	if got := decodeQRImage(t, rasterizeSVG(t, []byte(svg.body))); got != link {
		t.Fatalf("SVG reads %q, want %q", got, link)
	}
	if strings.Contains(svg.body, "<script") {
		t.Fatal("the SVG has a script")
	}

	// No QR code for what the link itself does not lead to.
	if p := b.get("/r/NOBODY-1234/qr.png"); p.status != http.StatusNotFound {
		t.Fatalf("QR code of an unknown code: %d", p.status)
	}
	if p := b.get("/r/bad%20code/qr.svg"); p.status != http.StatusNotFound {
		t.Fatalf("QR code of a malformed code: %d", p.status)
	}
	w.setStatus(t, "paused")
	if p := b.get("/r/" + code + "/qr.png"); p.status != http.StatusNotFound {
		t.Fatalf("QR code of a paused campaign's link: %d", p.status)
	}
}

func TestQRMemoKeepsAFewImages(t *testing.T) {
	t.Parallel()
	q := qrMemo{max: 3, m: map[string][]byte{}}
	first, err := q.draw("png", "https://r.example/r/A")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := q.draw("png", "https://r.example/r/A")
	if &first[0] != &again[0] {
		t.Fatal("the same image was drawn twice")
	}
	if svg, _ := q.draw("svg", "https://r.example/r/A"); !bytes.HasPrefix(svg, []byte("<?xml")) {
		t.Fatal("the memo answered the PNG for the SVG")
	}
	for i := 0; i < 10; i++ {
		if _, err := q.draw("svg", "https://r.example/r/"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.m) != 3 {
		t.Fatalf("the memo keeps %d images, want at most 3", len(q.m))
	}
}
