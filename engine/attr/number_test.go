package attr

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/godwit-db/godwit/engine/apierr"
)

// wantValidation fails unless err is a ValidationException with message msg.
func wantValidation(t *testing.T, err error, msg string) {
	t.Helper()
	wantAPIErr(t, err, "ValidationException", msg)
}

func wantAPIErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	e := apierr.As(err)
	if e == nil {
		t.Fatalf("error %v (%T), want %s %q", err, err, code, msg)
	}
	if e.Code != code || e.Message != msg {
		t.Fatalf("error %s %q, want %s %q", e.Code, e.Message, code, msg)
	}
}

func TestParseNumber(t *testing.T) {
	zeros := strings.Repeat
	for _, tc := range []struct{ in, want string }{
		{"42", "42"},
		{"00042", "42"},
		{"1.0", "1"},
		{"-0", "0"},
		{"0", "0"},
		{"0.000", "0"},
		{"-0.0e5", "0"},
		{"0e999999999999999999999", "0"},
		{"+5", "5"},
		{"1.5E2", "150"},
		{"1.5e+2", "150"},
		{"123.456e-2", "1.23456"},
		{"0.0001", "0.0001"},
		{"1E-4", "0.0001"},
		{".5", "0.5"},
		{"5.", "5"},
		{"-1.50", "-1.5"},
		{"-000.010", "-0.01"},
		{"1E+100", "1" + zeros("0", 100)},
		{"9.9999999999999999999999999999999999999E+125", zeros("9", 38) + zeros("0", 88)},
		{"-9.9999999999999999999999999999999999999E+125", "-" + zeros("9", 38) + zeros("0", 88)},
		{"1E-130", "0." + zeros("0", 129) + "1"},
		{"-1E-130", "-0." + zeros("0", 129) + "1"},
		{"12345678901234567890123456789012345678", "12345678901234567890123456789012345678"},
		{"1234567890123456789012345678901234567800000", "1234567890123456789012345678901234567800000"},
		{"0.0000000000000000000000000000000000000000000000000012345678901234567890123456789012345678",
			"0.0000000000000000000000000000000000000000000000000012345678901234567890123456789012345678"},
	} {
		got, err := ParseNumber(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseNumber(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseNumberErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", msgNumberFormat},
		{"abc", msgNumberFormat},
		{"-", msgNumberFormat},
		{".", msgNumberFormat},
		{"1e", msgNumberFormat},
		{"1e+", msgNumberFormat},
		{"e5", msgNumberFormat},
		{"--1", msgNumberFormat},
		{"+-1", msgNumberFormat},
		{"1.2.3", msgNumberFormat},
		{" 1", msgNumberFormat},
		{"1 ", msgNumberFormat},
		{"NaN", msgNumberFormat},
		{"Infinity", msgNumberFormat},
		{"0x10", msgNumberFormat},
		{"1_000", msgNumberFormat},
		{"1e1.5", msgNumberFormat},
		{"1e126", msgNumberOverflow},
		{"-1e126", msgNumberOverflow},
		{"10E125", msgNumberOverflow},
		{"1e99999999999999999999", msgNumberOverflow},
		{"1e-131", msgNumberUnderflow},
		{"-1e-131", msgNumberUnderflow},
		{"0.1e-130", msgNumberUnderflow},
		{"1e-99999999999999999999", msgNumberUnderflow},
		{"123456789012345678901234567890123456789", msgNumberPrecision},
		{"-1.23456789012345678901234567890123456789", msgNumberPrecision},
		{"1.00000000000000000000000000000000000001", msgNumberPrecision},
	} {
		got, err := ParseNumber(tc.in)
		if err == nil {
			t.Errorf("ParseNumber(%q) = %q, want error %q", tc.in, got, tc.msg)
			continue
		}
		wantValidation(t, err, tc.msg)
	}
}

func TestParseNumberNormalisedDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"42", "-1.5", "0.0001", "12345678901234567890123456789012345678"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseNumber(s) }); n != 0 {
			t.Errorf("ParseNumber(%q): %v allocations, want 0", s, n)
		}
	}
}

// TestParseNumberMatchesApd checks normalisation against apd on random
// numbers written in other, equivalent forms.
func TestParseNumberMatchesApd(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 5000; i++ {
		n := randNumber(r)
		var buf []byte
		d, ok := parseDecimal(n, buf)
		if !ok {
			t.Fatalf("randNumber gave %q", n)
		}
		sign := ""
		if d.neg {
			sign = "-"
		}
		digits := string(d.digits)
		forms := []string{
			sign + digits + "E" + strconv.Itoa(d.exp-len(digits)),
			sign + "0." + digits + "e" + plusSigned(d.exp),
			sign + "000" + digits + "00e" + strconv.Itoa(d.exp-len(digits)-2),
		}
		if len(d.digits) == 0 {
			forms = []string{"0E5", "-0.000", "00"}
		}
		for _, form := range forms {
			got, err := ParseNumber(form)
			if err != nil || got != n {
				t.Fatalf("ParseNumber(%q) = %q, %v; want %q", form, got, err, n)
			}
			var x apd.Decimal
			if _, _, err := x.SetString(form); err != nil {
				t.Fatal(err)
			}
			x.Reduce(&x)
			if x.IsZero() {
				x.Negative = false
			}
			if want := x.Text('f'); got != want {
				t.Fatalf("ParseNumber(%q) = %q, apd says %q", form, got, want)
			}
		}
	}
}

func plusSigned(i int) string {
	if i >= 0 {
		return "+" + strconv.Itoa(i)
	}
	return strconv.Itoa(i)
}

func TestNumberArith(t *testing.T) {
	for _, tc := range []struct {
		a, b      string
		sum, diff string
	}{
		{"1", "2", "3", "-1"},
		{"0.1", "0.2", "0.3", "-0.1"},
		{"-5", "5", "0", "-10"},
		{"1.5", "1.5", "3", "0"},
		{"99999999999999999999999999999999999999", "1", "1" + strings.Repeat("0", 38), "99999999999999999999999999999999999998"},
		{"99999999999999999999999999999999999999", "0.1", "", ""},
		{"1E+100", "1E+100", "2" + strings.Repeat("0", 100), "0"},
		{"0.000001", "1E-130", "", ""},
	} {
		sum, err := NumberAdd(tc.a, tc.b)
		if tc.sum == "" {
			if err == nil {
				t.Errorf("NumberAdd(%s, %s) = %s, want precision error", tc.a, tc.b, sum)
			} else {
				wantValidation(t, err, msgNumberPrecision)
			}
		} else if err != nil || sum != tc.sum {
			t.Errorf("NumberAdd(%s, %s) = %q, %v; want %q", tc.a, tc.b, sum, err, tc.sum)
		}
		diff, err := NumberSub(tc.a, tc.b)
		if tc.diff == "" {
			if err == nil {
				t.Errorf("NumberSub(%s, %s) = %s, want precision error", tc.a, tc.b, diff)
			} else {
				wantValidation(t, err, msgNumberPrecision)
			}
		} else if err != nil || diff != tc.diff {
			t.Errorf("NumberSub(%s, %s) = %q, %v; want %q", tc.a, tc.b, diff, err, tc.diff)
		}
	}

	big := "9" + strings.Repeat("0", 125)
	_, err := NumberAdd(big, big)
	wantValidation(t, err, msgNumberOverflow)
	_, err = NumberSub("-"+big, big)
	wantValidation(t, err, msgNumberOverflow)
	_, err = NumberAdd("x", "1")
	wantValidation(t, err, msgNumberFormat)
	_, err = NumberSub("1", "1e200")
	wantValidation(t, err, msgNumberOverflow)
}

func TestCompareNumbers(t *testing.T) {
	ordered := []string{"-1E+125", "-10", "-9.5", "-9.45", "-1", "-0.5", "-1E-130", "0",
		"1E-130", "0.00001", "0.1", "0.12", "0.123", "1", "3", "10", "10.5", "1E+100", "9.9E+125"}
	for i, a := range ordered {
		for j, b := range ordered {
			if got, want := CompareNumbers(a, b), cmpInt(i, j); got != want {
				t.Errorf("CompareNumbers(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	if CompareNumbers("1.0", "1") != 0 || CompareNumbers("-0", "0") != 0 {
		t.Error("CompareNumbers does not treat equal numbers as equal")
	}
	// Text that is no number sorts after every number, and the order stays total.
	if CompareNumbers("x", "1E+125") != 1 || CompareNumbers("1", "x") != -1 || CompareNumbers("x", "y") != -1 {
		t.Error("CompareNumbers orders non-numbers wrongly")
	}

	r := newRand(t)
	for i := 0; i < 20000; i++ {
		a, b := randNumber(r), randNumber(r)
		var x, y apd.Decimal
		x.SetString(a)
		y.SetString(b)
		if got, want := CompareNumbers(a, b), x.Cmp(&y); got != want {
			t.Fatalf("CompareNumbers(%s, %s) = %d, apd says %d", a, b, got, want)
		}
	}
}

func TestSignificantDigits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"0", 1}, {"1", 1}, {"100", 1}, {"-0.0012", 2}, {"123.45", 5}, {"1.5E2", 2}} {
		if got := significantDigits(tc.in); got != tc.want {
			t.Errorf("significantDigits(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"42", "-0.0010e+3", ".5", "1E+125", "1e-130", "1e126", "abc", "", "1e99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		if err != nil {
			if e := apierr.As(err); e == nil || e.Code != "ValidationException" {
				t.Fatalf("ParseNumber(%q): error %v", s, err)
			}
			return
		}
		if again, err := ParseNumber(n); err != nil || again != n {
			t.Fatalf("ParseNumber(%q) = %q, which normalises to %q, %v", s, n, again, err)
		}
		var x, y apd.Decimal
		if _, _, err := x.SetString(s); err != nil {
			// apd bounds exponents (±100000); only a zero may carry a larger one.
			if n != "0" {
				t.Fatalf("ParseNumber accepted %q, apd rejects it: %v", s, err)
			}
			return
		}
		if _, _, err := y.SetString(n); err != nil || x.Cmp(&y) != 0 {
			t.Fatalf("ParseNumber(%q) = %q changes the value", s, n)
		}
	})
}
