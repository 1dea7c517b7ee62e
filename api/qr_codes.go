package api

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/referflow/referflow/internal/campaign"
)

// QR codes of referral links, made on the server: the join page and the
// member portal show one, and a member can print it. The library encodes the
// text into the code's modules (the hard part: versions, error correction,
// masking); drawing the modules as a PNG or an SVG is done here with the
// standard library, so no image dependency comes with it.
//
//	GET /r/{code}/qr.png   the member's referral link as a PNG
//	GET /r/{code}/qr.svg   the same as an SVG (prints at any size)
//
// Both answer 404 for what the link itself answers 404 for (an unknown code,
// a campaign not active). They encode the canonical link
// (<REFERFLOW_PUBLIC_URL>/r/<code as stored>), so the image of a code never
// changes and may be cached for a day.

const (
	// maxQRText bounds what a QR code encodes: a referral link is well
	// under it, and it keeps the image small (version 12 at most: 65 modules).
	maxQRText = 256
	// qrQuietZone is the blank border, in modules, a scanner needs.
	qrQuietZone = 4
	// qrPNGScale is the size of a module in the PNG, in pixels: a referral
	// link (version 4 to 6) makes an image of about 400 pixels.
	qrPNGScale = 8
	// qrCacheControl lets browsers and proxies keep a code's image a day.
	qrCacheControl = "public, max-age=86400"
)

// errQRTooLong is text longer than maxQRText.
var errQRTooLong = errors.New("text too long for a QR code")

// qrModules encodes text as a QR code (error correction level M: 15% of the
// code may be damaged) and answers its modules, true for dark, without the
// quiet zone.
func qrModules(text string) ([][]bool, error) {
	if len(text) > maxQRText {
		return nil, errQRTooLong
	}
	code, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("encode a QR code: %w", err)
	}
	var w bitmapWriter
	if err := code.Save(&w); err != nil {
		return nil, fmt.Errorf("read a QR code's modules: %w", err)
	}
	return w.bitmap, nil
}

// bitmapWriter takes the library's matrix as rows of modules.
type bitmapWriter struct{ bitmap [][]bool }

func (w *bitmapWriter) Write(m qrcode.Matrix) error {
	w.bitmap = m.Bitmap()
	return nil
}

func (w *bitmapWriter) Close() error { return nil }

// QRCodePNG draws text's QR code as a black-on-white PNG with its quiet
// zone, qrPNGScale pixels a module.
func QRCodePNG(text string) ([]byte, error) {
	modules, err := qrModules(text)
	if err != nil {
		return nil, err
	}
	side := (len(modules) + 2*qrQuietZone) * qrPNGScale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y, row := range modules {
		for x, dark := range row {
			if !dark {
				continue
			}
			x0, y0 := (x+qrQuietZone)*qrPNGScale, (y+qrQuietZone)*qrPNGScale
			for py := y0; py < y0+qrPNGScale; py++ {
				line := img.Pix[py*img.Stride+x0 : py*img.Stride+x0+qrPNGScale]
				for i := range line {
					line[i] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: pngBuffers}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("write a QR code as PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// pngBuffers reuses the PNG encoder's buffers (its compressor is most of
// what drawing a QR code allocates).
var pngBuffers = &pngBufferPool{}

type pngBufferPool struct{ p sync.Pool }

func (b *pngBufferPool) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}

func (b *pngBufferPool) Put(v *png.EncoderBuffer) { b.p.Put(v) }

// QRCodeSVG draws text's QR code as an SVG: one path of the dark modules
// (each row's runs merged) on a white square with the quiet zone, one unit
// a module, so it scales to any size without blurring.
func QRCodeSVG(text string) ([]byte, error) {
	modules, err := qrModules(text)
	if err != nil {
		return nil, err
	}
	side := strconv.Itoa(len(modules) + 2*qrQuietZone)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + side + ` ` + side + `" width="` + strconv.Itoa((len(modules)+2*qrQuietZone)*qrPNGScale) + `" height="` + strconv.Itoa((len(modules)+2*qrQuietZone)*qrPNGScale) + `" shape-rendering="crispEdges">`)
	b.WriteString(`<rect width="` + side + `" height="` + side + `" fill="#fff"/><path fill="#000" d="`)
	for y, row := range modules {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start+qrQuietZone, y+qrQuietZone, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>` + "\n")
	return b.Bytes(), nil
}

// referralQRPath is the path of a member's QR code image; format is "png" or
// "svg".
func referralQRPath(code, format string) string {
	return "/r/" + code + "/qr." + format
}

func (s *Server) routeQRCodes() {
	s.echo.GET(referralLinkRoute+"/qr.png", s.referralQRCode("png"))
	s.echo.GET(referralLinkRoute+"/qr.svg", s.referralQRCode("svg"))
}

func (s *Server) referralQRCode(format string) echo.HandlerFunc {
	return func(c echo.Context) error {
		link, ok, err := s.lookupReferralLink(c.Request().Context(), c.Param("code"))
		if err != nil {
			return err
		}
		if !ok || !campaign.Status(link.row.CampaignStatus).TakesNew() {
			return linkNotFound(c)
		}
		code := link.row.ReferralCode
		img, err := qrImages.draw(format, s.referralLink(code))
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set("Cache-Control", qrCacheControl)
		h.Set("X-Content-Type-Options", "nosniff")
		if format == "svg" {
			// An SVG opened on its own is a document: it may run nothing.
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			h.Set("Content-Disposition", `inline; filename="referral-qr-`+code+`.svg"`)
			return c.Blob(http.StatusOK, "image/svg+xml", img)
		}
		return c.Blob(http.StatusOK, "image/png", img)
	}
}

// qrImages keeps the QR code images drawn lately: browsers keep an image a
// day, but each new visitor of a page asks for it again, and drawing one
// costs about a millisecond of CPU. The images are a function of their text,
// so the memo is shared by the process; at most qrMemoEntries are kept (a
// few kilobytes each), any one dropped when it is full.
var qrImages = qrMemo{max: qrMemoEntries, m: map[string][]byte{}}

const qrMemoEntries = 2048

type qrMemo struct {
	max int
	mu  sync.Mutex
	m   map[string][]byte
}

// draw answers text's QR code in format (png or svg), from the memo or
// drawn now.
func (q *qrMemo) draw(format, text string) ([]byte, error) {
	key := format + " " + text
	q.mu.Lock()
	img, ok := q.m[key]
	q.mu.Unlock()
	if ok {
		return img, nil
	}
	var err error
	if format == "svg" {
		img, err = QRCodeSVG(text)
	} else {
		img, err = QRCodePNG(text)
	}
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.m) >= q.max {
		for k := range q.m {
			delete(q.m, k)
			break
		}
	}
	q.m[key] = img
	return img, nil
}
