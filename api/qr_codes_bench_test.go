package api

import "testing"

// BenchmarkQRCode measures drawing a referral link's QR code, which
// /r/{code}/qr.png and qr.svg do on each request a cache has not answered.
func BenchmarkQRCode(b *testing.B) {
	const link = "https://refer.acme.example/r/MAYA-7Q2K"
	for _, f := range []struct {
		name string
		draw func(string) ([]byte, error)
	}{{"png", QRCodePNG}, {"svg", QRCodeSVG}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.draw(link); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
