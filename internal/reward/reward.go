// Package reward is what a referral earns: a reward's statuses, and its
// amount computed exactly — money is an integer number of cents, percentages
// are integers in ten-thousandths of a percent, and every division rounds
// half up to the cent. No float ever touches an amount.
package reward

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/internal/campaign"
)

// Recipients of a reward, as stored in rewards.recipient.
const (
	Member = "member"
	Friend = "friend"
)

// MaxCents is the largest amount the rewards table holds (numeric(18, 2)).
const MaxCents = 9_999_999_999_999_999

// Amount is an exact sum of money: Cents hundredths of Currency's unit.
type Amount struct {
	Cents    int64
	Currency string
}

// String is the amount as a decimal string with two places, e.g. "123.46"
// (without the currency).
func (a Amount) String() string {
	sign := ""
	c := a.Cents
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// Numeric is the amount for a numeric(18, 2) column.
func (a Amount) Numeric() pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(a.Cents), Exp: -2, Valid: true}
}

// ErrNoSaleValue is returned for a percentage reward of a referral whose sale
// value is not known yet (HubSpot has not sent the deal's amount).
var ErrNoSaleValue = errors.New("no sale value yet: a percentage reward needs the referral's sale value (the deal's amount)")

var (
	decimalPattern  = regexp.MustCompile(`^\d{1,16}(\.\d{1,2})?$`)
	percentPattern  = regexp.MustCompile(`^\d{1,3}(\.\d{1,4})?$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ParseAmount reads a decimal string with at most two decimal places ("50",
// "19.99") in currency.
func ParseAmount(s, currency string) (Amount, error) {
	if !currencyPattern.MatchString(currency) {
		return Amount{}, fmt.Errorf("currency %q is not a three-letter ISO code like EUR", currency)
	}
	if !decimalPattern.MatchString(s) {
		return Amount{}, fmt.Errorf("amount %q is not a decimal with at most two places like 50 or 19.99", s)
	}
	cents, err := scaled(s, 2)
	if err != nil || cents > MaxCents {
		return Amount{}, fmt.Errorf("amount %q is too large", s)
	}
	return Amount{Cents: cents, Currency: currency}, nil
}

// FromNumeric reads a numeric column (a sale value) in currency; ok is false
// when the value is NULL. A value with fractions of a cent is an error, not
// silently rounded.
func FromNumeric(n pgtype.Numeric, currency string) (a Amount, ok bool, err error) {
	if !n.Valid {
		return Amount{}, false, nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite || n.Int == nil {
		return Amount{}, false, fmt.Errorf("amount is not a finite number")
	}
	if !currencyPattern.MatchString(currency) {
		return Amount{}, false, fmt.Errorf("currency %q is not a three-letter ISO code like EUR", currency)
	}
	c := new(big.Int).Set(n.Int)
	if exp := int64(n.Exp) + 2; exp >= 0 {
		c.Mul(c, new(big.Int).Exp(big.NewInt(10), big.NewInt(exp), nil))
	} else {
		var rem big.Int
		c.QuoRem(c, new(big.Int).Exp(big.NewInt(10), big.NewInt(-exp), nil), &rem)
		if rem.Sign() != 0 {
			return Amount{}, false, fmt.Errorf("amount has fractions of a cent")
		}
	}
	if !c.IsInt64() || c.Int64() > MaxCents || c.Int64() < -MaxCents {
		return Amount{}, false, fmt.Errorf("amount is too large")
	}
	return Amount{Cents: c.Int64(), Currency: currency}, true, nil
}

// Compute says what reward r earns on a referral whose sale value is sale
// (nil when not known yet). A fixed reward is its amount; a percentage reward
// is that percentage of the sale value, in the sale's currency, rounded half
// up to the cent (10% of 1234.55 is 123.46; 2.5% of 99.99 is 2.50). A
// percentage reward without a sale value returns an error wrapping
// ErrNoSaleValue.
func Compute(r campaign.Reward, sale *Amount) (Amount, error) {
	switch r.Kind {
	case campaign.RewardFixed:
		return ParseAmount(r.Amount, r.Currency)
	case campaign.RewardPercentage:
		pct, err := parsePercent(r.Percent)
		if err != nil {
			return Amount{}, err
		}
		if sale == nil {
			return Amount{}, ErrNoSaleValue
		}
		if sale.Cents < 0 {
			return Amount{}, fmt.Errorf("sale value %s %s is negative", sale, sale.Currency)
		}
		if r.Currency != "" && r.Currency != sale.Currency {
			return Amount{}, fmt.Errorf("the reward is in %s but the sale value is in %s", r.Currency, sale.Currency)
		}
		return Amount{Cents: percentOf(sale.Cents, pct), Currency: sale.Currency}, nil
	default:
		return Amount{}, fmt.Errorf("reward kind %q is neither fixed nor percentage", r.Kind)
	}
}

// percentOf is cents × units / 1,000,000 (units are ten-thousandths of a
// percent) rounded half up, computed without overflow.
func percentOf(cents, units int64) int64 {
	const scale = 1_000_000
	x := new(big.Int).Mul(big.NewInt(cents), big.NewInt(units))
	var rem big.Int
	q, _ := new(big.Int).QuoRem(x, big.NewInt(scale), &rem)
	if 2*rem.Int64() >= scale { // rem < scale, so 2*rem fits easily
		q.Add(q, big.NewInt(1))
	}
	return q.Int64() // ≤ cents, since units ≤ 1,000,000
}

// parsePercent reads "10" or "2.5" as ten-thousandths of a percent (100000,
// 25000); it must be above 0 and at most 100.
func parsePercent(s string) (int64, error) {
	if !percentPattern.MatchString(s) {
		return 0, fmt.Errorf("percent %q is not a percentage like 10 or 2.5 (at most four decimal places)", s)
	}
	units, err := scaled(s, 4)
	if err != nil || units <= 0 || units > 100*10_000 {
		return 0, fmt.Errorf("percent %q must be above 0 and at most 100", s)
	}
	return units, nil
}

// scaled reads a decimal string already checked to have at most places
// decimals as an integer of 10^-places units.
func scaled(s string, places int) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", places-len(frac))
	return strconv.ParseInt(whole+frac, 10, 64)
}

// IdempotencyKey is the key that makes a reward unique per referral,
// recipient and conversion (1 for the first): however often the activity
// creating it is retried, the database holds one.
func IdempotencyKey(referralID, recipient string, conversion int) string {
	return fmt.Sprintf("reward:%s:%s:%d", referralID, recipient, conversion)
}
