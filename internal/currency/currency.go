// Package currency knows which currency codes are money: the active codes of
// ISO 4217 (its list A.1) that name a currency, without the fund codes (BOV,
// CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals, SDRs and testing
// codes (XAU, XAG, XPD, XPT, XBA–XBD, XDR, XSU, XUA, XTS) or "no currency"
// (XXX). Rewards and sale values are in one of these; anything else — a
// typo, a withdrawn code (HRK, CUC, SLL, ZWL, ANG, BGN) — is refused where it
// is typed, so no reward is ever issued in a currency nobody can pay.
package currency

import "slices"

// codes is the list, in alphabetical order (as of 2026: ANG replaced by XCG
// in 2025, BGN withdrawn with Bulgaria's adoption of the euro in 2026).
var codes = []string{
	"AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN",
	"BAM", "BBD", "BDT", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
	"CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK",
	"DJF", "DKK", "DOP", "DZD",
	"EGP", "ERN", "ETB", "EUR",
	"FJD", "FKP",
	"GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
	"HKD", "HNL", "HTG", "HUF",
	"IDR", "ILS", "INR", "IQD", "IRR", "ISK",
	"JMD", "JOD", "JPY",
	"KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
	"LAK", "LBP", "LKR", "LRD", "LSL", "LYD",
	"MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN",
	"NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
	"OMR",
	"PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
	"QAR",
	"RON", "RSD", "RUB", "RWF",
	"SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
	"THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
	"UAH", "UGX", "USD", "UYU", "UZS",
	"VED", "VES", "VND", "VUV",
	"WST",
	"XAF", "XCD", "XCG", "XOF", "XPF",
	"YER",
	"ZAR", "ZMW", "ZWG",
}

// Known tells whether code is an active ISO 4217 currency code (upper case,
// as ISO writes it).
func Known(code string) bool {
	_, found := slices.BinarySearch(codes, code)
	return found
}

// Codes lists the known codes in alphabetical order.
func Codes() []string { return slices.Clone(codes) }
