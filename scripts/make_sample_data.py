#!/usr/bin/env python3
"""Generate the Aquilon Pumpworks "Vortex" sample industry dataset.

Everything under ``data/pumps/`` is produced from the single source of truth in
this file (``END_SUCTION``, ``VXS80``, ``VXM4``, ``AD7_PARAMS``, ``AD7_FAULTS``
and the cross-cutting fact tables), so the manuals, the training Q&A and the
held-out evaluation set always agree with each other.

The company, the pumps, the part numbers and every figure are fictional.

Usage::

    python scripts/make_sample_data.py            # (re)write data/pumps/
    python scripts/make_sample_data.py --check    # regenerate in memory, fail if files differ

Only the Python standard library is used. Output is deterministic: a fixed
seed, stable ordering, UTF-8, LF line endings, so a second run reproduces the
files byte for byte.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

SEED = 20240715
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "data" / "pumps"

SYSTEM_PROMPT = (
    "You are Aquilon Pumpworks' service assistant. "
    "Answer precisely from the Vortex pump manuals."
)

N_HELDOUT_SEEN = 36      # held-out facts also taught in train.jsonl (other phrasings)
N_HELDOUT_UNSEEN = 36    # held-out facts never stated in train.jsonl
N_HELDOUT_UNANSWERABLE = 12  # held-out questions nothing in the dataset answers (see UNANSWERABLE)
MULTI_TURN_SHARE = 0.10  # share of train rows that are two-turn conversations
# The reference answer of an unanswerable held-out question: a copy of phi3ray.rag.prompt.ABSTAIN (this
# script is stdlib-only); tests/data/test_sample_dataset.py holds the two to the same sentence.
ABSTAIN = "I do not know: the sources do not contain the answer."


def g(x) -> str:
    """Compact number formatting: 4.0 -> '4', 0.30 -> '0.3', 18.5 -> '18.5'."""
    return "%g" % x


# ---------------------------------------------------------------------------
# Single source of truth: the Vortex product line
# ---------------------------------------------------------------------------

# End-suction, back pull-out pumps. One dict per model; every per-model figure
# used in the manuals and in the Q&A comes from here.
END_SUCTION = [
    {
        "model": "VX-100", "slug": "vx-100",
        "flow": 25, "head": 32, "kw": 4, "rpm": 2900, "poles": 2,
        "imp": 165, "imp_min": 135, "npshr": 2.4, "tmax": 105, "pmax": 10,
        "weight": 72, "dn_s": 50, "dn_d": 32, "qmin": 5,
        "casing_mat": "grey cast iron EN-GJL-250", "casing_key": "grey cast iron",
        "impeller_mat": "bronze CC491K",
        "applications": "heating and chilled-water circulation, small transfer duties and wash-down systems",
        "lift_note": "Lift it with two round slings at the four lifting lugs of the baseplate.",
        "anchor": "M12", "foot": 45, "par": 0.05, "ang": 0.05, "gap": 3, "soft": 0.05, "straight": 5,
        "install_note": (
            "Because the VX-100 is light, it is often mounted on a steel skid instead of a concrete "
            "plinth. That is acceptable if the skid is stiff enough not to flex when the pipework is "
            "bolted up, and if the baseplate is bolted through all four holes."
        ),
        "seal_kit": "AQ-SEAL-100-S", "seal_kind": "component",
        "seal_desc": "single unbalanced component mechanical seal",
        "faces": "carbon against silicon carbide", "faces_key": "carbon", "elast": "EPDM",
        "gland": 20, "runin": 2, "seal_set": 37.5,
        "seal_note": (
            "The VX-100 has no shaft sleeve: the seal runs directly on the shaft, so inspect the shaft "
            "surface under the rotating elastomer for fretting marks."
        ),
        "imp_part": "AQ-IMP-100-165", "imp_nut": 40, "casing": 55, "casing_bolt": "M12",
        "wr_new": 0.30, "wr_max": 0.60, "wr_part": "AQ-WR-100",
        "imp_note": (
            "The VX-100 impeller nut has a nylon locking insert. Fit a new nut every time the old one "
            "has been removed; a reused nut can work loose."
        ),
        "brg_ie": "6305 C3 deep-groove ball bearing", "brg_ie_key": "6305",
        "brg_ce": "3305 A double-row angular-contact ball bearing", "brg_ce_key": "3305",
        "brg_kit": "AQ-BRG-100-K", "vg": 46, "oil_l": 0.35, "oil_h": 4000, "brg_t": 80, "cover": 18,
        "brg_note": (
            "The small sump of the VX-100 makes it sensitive to the oil level: a few millilitres too much "
            "or too little shows up quickly as a warmer bearing housing."
        ),
        "vib_a": 4.0, "vib_t": 6.3, "gsk": "AQ-GSK-100", "cpl": "AQ-CPL-E28",
    },
    {
        "model": "VX-150", "slug": "vx-150",
        "flow": 45, "head": 40, "kw": 7.5, "rpm": 2900, "poles": 2,
        "imp": 185, "imp_min": 150, "npshr": 3.1, "tmax": 110, "pmax": 12,
        "weight": 118, "dn_s": 65, "dn_d": 50, "qmin": 9,
        "casing_mat": "grey cast iron EN-GJL-250", "casing_key": "grey cast iron",
        "impeller_mat": "bronze CC491K",
        "applications": "irrigation, pressure-booster sets and general clean-water supply",
        "lift_note": "Lift it with slings at the four lifting lugs of the baseplate, never with a single-point hitch.",
        "anchor": "M16", "foot": 60, "par": 0.05, "ang": 0.05, "gap": 4, "soft": 0.05, "straight": 5,
        "install_note": (
            "VX-150 units used in booster sets often share a common manifold. Support the manifold on its "
            "own brackets, so that removing one pump does not leave the pipework hanging on the others."
        ),
        "seal_kit": "AQ-SEAL-150-S", "seal_kind": "component",
        "seal_desc": "single balanced component mechanical seal",
        "faces": "silicon carbide against silicon carbide", "faces_key": "silicon carbide", "elast": "FKM",
        "gland": 25, "runin": 2, "seal_set": 42.5,
        "seal_note": (
            "The VX-150 seal runs on a replaceable shaft sleeve. Replace the sleeve and its O-ring together "
            "with the seal if the sleeve shows a groove under the rotating elastomer."
        ),
        "imp_part": "AQ-IMP-150-185", "imp_nut": 60, "casing": 75, "casing_bolt": "M16",
        "wr_new": 0.35, "wr_max": 0.70, "wr_part": "AQ-WR-150",
        "imp_note": (
            "Booster-set duty means frequent starts, which is hard on the impeller key. Check the keyway "
            "of every VX-150 impeller you remove for widening or cracks."
        ),
        "brg_ie": "6306 C3 deep-groove ball bearing", "brg_ie_key": "6306",
        "brg_ce": "3306 A double-row angular-contact ball bearing", "brg_ce_key": "3306",
        "brg_kit": "AQ-BRG-150-K", "vg": 46, "oil_l": 0.5, "oil_h": 4000, "brg_t": 80, "cover": 22,
        "brg_note": (
            "In irrigation service the VX-150 often stands outdoors. Fit the optional breather with a "
            "desiccant cartridge so that condensation does not collect in the bearing housing."
        ),
        "vib_a": 4.0, "vib_t": 6.3, "gsk": "AQ-GSK-150", "cpl": "AQ-CPL-E38",
    },
    {
        "model": "VX-220", "slug": "vx-220",
        "flow": 90, "head": 50, "kw": 18.5, "rpm": 2900, "poles": 2,
        "imp": 220, "imp_min": 185, "npshr": 4.2, "tmax": 120, "pmax": 16,
        "weight": 265, "dn_s": 100, "dn_d": 80, "qmin": 18,
        "casing_mat": "ductile iron EN-GJS-400-15", "casing_key": "ductile iron",
        "impeller_mat": "stainless steel 1.4408",
        "applications": "process water, cooling-tower circuits and industrial transfer duties",
        "lift_note": "Lift it with a four-leg sling at the baseplate lifting lugs, keeping the unit level.",
        "anchor": "M20", "foot": 120, "par": 0.05, "ang": 0.04, "gap": 4.5, "soft": 0.08, "straight": 6,
        "install_note": (
            "On cooling-tower duty the VX-220 suction often comes from a basin only a few metres away. "
            "Keep the suction line short and rising steadily towards the pump, so no air pocket can form."
        ),
        "seal_kit": "AQ-SEAL-220-M", "seal_kind": "cartridge",
        "seal_desc": "single cartridge mechanical seal",
        "faces": "silicon carbide against silicon carbide", "faces_key": "silicon carbide", "elast": "FKM",
        "gland": 30, "runin": 4, "seal_set": 6,
        "seal_note": (
            "Because the VX-220 seal is a cartridge, it is fitted and removed as one unit. Do not take the "
            "cartridge apart on site; a used cartridge goes back to Aquilon for exchange."
        ),
        "imp_part": "AQ-IMP-220-220", "imp_nut": 95, "casing": 110, "casing_bolt": "M16",
        "wr_new": 0.40, "wr_max": 0.80, "wr_part": "AQ-WR-220",
        "imp_note": (
            "Cooling-tower water carries sand and scale. On the VX-220, look for polished, eroded areas on "
            "the impeller shrouds and measure the wear ring clearance at every overhaul, not only when "
            "performance drops."
        ),
        "brg_ie": "6309 C3 deep-groove ball bearing", "brg_ie_key": "6309",
        "brg_ce": "3309 A double-row angular-contact ball bearing", "brg_ce_key": "3309",
        "brg_kit": "AQ-BRG-220-K", "vg": 68, "oil_l": 0.9, "oil_h": 3000, "brg_t": 85, "cover": 28,
        "brg_note": (
            "The VX-220 bearing bracket has cooling fins. Keep them free of dirt and do not lag or paint "
            "over them, or the bearing temperature will creep up."
        ),
        "vib_a": 4.5, "vib_t": 7.1, "gsk": "AQ-GSK-220", "cpl": "AQ-CPL-E48",
    },
    {
        "model": "VX-300", "slug": "vx-300",
        "flow": 200, "head": 32, "kw": 30, "rpm": 1480, "poles": 4,
        "imp": 315, "imp_min": 265, "npshr": 3.6, "tmax": 120, "pmax": 16,
        "weight": 540, "dn_s": 150, "dn_d": 125, "qmin": 40,
        "casing_mat": "ductile iron EN-GJS-400-15", "casing_key": "ductile iron",
        "impeller_mat": "stainless steel 1.4408",
        "applications": "municipal water supply, large cooling circuits and raw-water transfer",
        "lift_note": "Lift it with a four-leg chain sling at the baseplate lifting lugs; check the sling rating against the weight first.",
        "anchor": "M24", "foot": 210, "par": 0.08, "ang": 0.06, "gap": 5, "soft": 0.08, "straight": 8,
        "install_note": (
            "The VX-300 runs at four-pole speed, so it is more tolerant of alignment error than the "
            "two-pole models, but its heavy baseplate must be fully grouted: a hollow-sounding baseplate "
            "will resonate and raise the vibration readings."
        ),
        "seal_kit": "AQ-SEAL-300-M", "seal_kind": "cartridge",
        "seal_desc": "single cartridge mechanical seal",
        "faces": "silicon carbide against tungsten carbide", "faces_key": "tungsten carbide", "elast": "FKM",
        "gland": 35, "runin": 4, "seal_set": 8,
        "seal_note": (
            "The VX-300 cartridge is heavy enough to damage the faces if it is dropped onto the shaft "
            "shoulder. Support it by hand, or with a sling on larger installations, until it is fully home."
        ),
        "imp_part": "AQ-IMP-300-315", "imp_nut": 140, "casing": 180, "casing_bolt": "M20",
        "wr_new": 0.50, "wr_max": 1.00, "wr_part": "AQ-WR-300",
        "imp_note": (
            "The VX-300 impeller weighs about 28 kg. Use an impeller lifting eye screwed into the impeller "
            "nut thread, not a bar through the eye of the impeller."
        ),
        "brg_ie": "NU 311 ECP cylindrical roller bearing", "brg_ie_key": "NU 311",
        "brg_ce": "matched pair of 7311 BECBM angular-contact ball bearings mounted back to back", "brg_ce_key": "7311",
        "brg_kit": "AQ-BRG-300-K", "vg": 68, "oil_l": 1.4, "oil_h": 3000, "brg_t": 85, "cover": 35,
        "brg_note": (
            "The paired 7311 bearings of the VX-300 must be mounted back to back with the wide outer-ring "
            "faces outwards. Mounted the wrong way round, they run hot within minutes."
        ),
        "vib_a": 3.5, "vib_t": 5.6, "gsk": "AQ-GSK-300", "cpl": "AQ-CPL-E65",
    },
    {
        "model": "VX-450", "slug": "vx-450",
        "flow": 400, "head": 45, "kw": 75, "rpm": 1485, "poles": 4,
        "imp": 405, "imp_min": 340, "npshr": 5.0, "tmax": 140, "pmax": 16,
        "weight": 1150, "dn_s": 200, "dn_d": 150, "qmin": 80,
        "casing_mat": "ductile iron EN-GJS-400-18-LT", "casing_key": "ductile iron",
        "impeller_mat": "duplex stainless steel 1.4470",
        "applications": "district heating, power-station cooling water and raw-water intake stations",
        "lift_note": "Lift it only with a spreader beam and four slings at the baseplate lifting lugs; a two-leg sling lets the unit tilt.",
        "anchor": "M30", "foot": 350, "par": 0.10, "ang": 0.08, "gap": 6, "soft": 0.10, "straight": 10,
        "install_note": (
            "In district-heating plants the VX-450 grows noticeably as it warms up. Do the final alignment "
            "check hot, within an hour of stopping the pump after it has reached operating temperature."
        ),
        "seal_kit": "AQ-SEAL-450-D", "seal_kind": "cartridge",
        "seal_desc": "double cartridge mechanical seal with a pressurised barrier fluid",
        "faces": "silicon carbide against silicon carbide (inboard) and carbon against silicon carbide (outboard)",
        "faces_key": "silicon carbide", "elast": "FKM",
        "gland": 45, "runin": 6, "seal_set": 10,
        "seal_note": (
            "The VX-450 double seal is supplied by a barrier-fluid vessel mounted on the baseplate. "
            "Disconnect and plug the barrier inlet and outlet lines before the cartridge is withdrawn."
        ),
        "barrier_bar": 1.5,
        "imp_part": "AQ-IMP-450-405", "imp_nut": 220, "casing": 260, "casing_bolt": "M24",
        "wr_new": 0.60, "wr_max": 1.20, "wr_part": "AQ-WR-450",
        "imp_note": (
            "The VX-450 rotating assembly weighs over 300 kg. Withdraw it with the Aquilon pull-out trolley "
            "or a crane and a balanced lifting beam; never lever it out with bars against the casing."
        ),
        "brg_ie": "NU 313 ECP cylindrical roller bearing", "brg_ie_key": "NU 313",
        "brg_ce": "matched pair of 7313 BECBM angular-contact ball bearings mounted back to back", "brg_ce_key": "7313",
        "brg_kit": "AQ-BRG-450-K", "vg": 68, "oil_l": 2.2, "oil_h": 2000, "brg_t": 90, "cover": 45,
        "brg_note": (
            "On hot-water duty above 120 °C the VX-450 bearing bracket should be fitted with the optional "
            "cooling coil, supplied with clean water at up to 25 °C."
        ),
        "vib_a": 3.5, "vib_t": 5.6, "gsk": "AQ-GSK-450", "cpl": "AQ-CPL-E90",
    },
]

# Submersible wastewater pump.
VXS80 = {
    "model": "VXS-80", "flow": 40, "head": 15, "kw": 4, "rpm": 1450, "solids": 65,
    "depth": 20, "tmax": 40, "weight": 98, "dn_d": 80, "cable_m": 10,
    "cable": "H07RN-F 7G1.5", "ip": "IP68",
    "guide_rail": "AQ-GR-80", "chain": "AQ-CHN-80-6", "chain_m": 6, "chain_kg": 400,
    "float_start": 800, "float_stop": 400, "float_alarm": 1000, "starts_h": 15,
    "oil_l": 0.65, "oil_grade": "ISO VG 15 white medical oil", "oil_h": 1500, "oil_months": 6,
    "water_pct": 20, "seal_kit": "AQ-SEAL-80-DS", "imp_part": "AQ-IMP-80-C",
    "clr_min": 0.3, "clr_max": 0.5, "clr_adjust": "1.0", "imp_bolt": 35, "thermal_c": 140,
    "gsk": "AQ-GSK-80",
}

# Vertical in-line multistage pump.
VXM4 = {
    "model": "VXM-4", "stages": 4, "flow": 12, "head": 68, "kw": 5.5, "rpm": 2900,
    "pmax": 25, "tmax": 120, "npshr": 1.8, "qmin": 1.5, "weight": 86, "dn": 40,
    "base_bolts": 40, "closed_valve_s": 10, "p10_hz": 30,
    "seal_kit": "AQ-SEAL-M4-C", "coupling_screw": 13, "lift_mm": 1.5, "fork": "AQ-TOOL-M4-F",
    "tie_bolt": 60, "stage_kit": "AQ-STG-M4-K", "motor_brg_h": 20000,
    "vib_a": 3.0, "vib_t": 5.0, "gsk": "AQ-GSK-M4",
}

# AquiDrive AD-7 variable-frequency drive.
AD7 = {"cap_wait_min": 5, "dc_safe_v": 50, "heatsink_c": 90, "ambient_c": 40}

AD7_PARAMS = [
    # code, name, default, note
    ("P01", "Motor rated current", "none", "Must be set before the first start: enter the full-load current from the motor nameplate, in amperes. The motor overload protection (E09) is calculated from it."),
    ("P02", "Motor rated frequency", "50 Hz", "Set to the nameplate frequency."),
    ("P03", "Motor rated speed", "2900 rpm", "Set to the nameplate speed: 2900 rpm for the two-pole models, 1480 rpm for the VX-300 and 1485 rpm for the VX-450."),
    ("P07", "Acceleration time", "5 s", "Time from 0 to the maximum frequency. Use 10 s for the VX-300 and the VX-450."),
    ("P08", "Deceleration time", "5 s", "Time from the maximum frequency to 0. Too short a time causes E04."),
    ("P10", "Minimum frequency", "25 Hz", f"Below this the pump may fall under its minimum continuous flow. Use {g(VXM4['p10_hz'])} Hz for the VXM-4."),
    ("P11", "Maximum frequency", "50 Hz", "Do not set above 50 Hz: Vortex impellers and motors are rated for nominal 50 Hz speed only."),
    ("P20", "Dry-run power threshold", "30%", "Shaft power, in percent of rated power, below which the drive suspects dry running."),
    ("P21", "Dry-run delay", "10 s", "How long the power must stay below P20 before E12 trips."),
    ("P23", "Low suction pressure trip", "0.3 bar", "Suction pressure below which E13 trips (needs a suction transmitter on AI2)."),
    ("P27", "Bearing temperature trip", "90 °C", "Set it to the bearing temperature limit of the pump; the alarm comes 5 K below the trip."),
    ("P29", "Vibration trip", "7.1 mm/s", "Set it to the trip value for the pump model in Troubleshooting: Vibration."),
    ("P33", "Maximum starts per hour", "10", f"E24 trips when the count is exceeded. Set {VXS80['starts_h']} for the VXS-80."),
    ("P35", "Fieldbus timeout", "5 s", "Time without a valid Modbus message before E20 trips."),
    ("P40", "Auto-restart attempts", "3", "Automatic restarts after E04, E05 or E06 before the drive locks out."),
    ("P99", "Factory reset", "0", "Write 1 with the drive stopped to restore all factory defaults."),
]

# Fault codes E01..E25: code, name, key term for evaluation, cause, remedy, reset mode.
AD7_FAULTS = [
    ("E01", "Overcurrent during acceleration", ["overcurrent", "acceleration"],
     "The output current exceeded 200% of the drive rating while the motor was ramping up. The acceleration time P07 is usually too short for the inertia of the pump, or the impeller is jammed.",
     "Check that the pump shaft turns freely by hand, then lengthen the acceleration time P07 (10 s is recommended for the VX-300 and VX-450).",
     "manual"),
    ("E02", "Overcurrent at constant speed", ["overcurrent", "constant speed"],
     "The output current exceeded 200% of the drive rating while running at a steady speed. Typical causes are a rubbing or blocked impeller, a seized bearing or a short circuit in the motor cable.",
     "Stop the pump, turn the shaft by hand to feel for rubbing, and megger the motor and cable before restarting.",
     "manual"),
    ("E03", "Overcurrent during deceleration", ["overcurrent", "deceleration"],
     "The output current exceeded 200% of the drive rating while the drive was ramping down, usually because the deceleration time P08 is very short.",
     "Lengthen the deceleration time P08, or set the stop mode to coast for pumps with a high inertia.",
     "manual"),
    ("E04", "DC bus overvoltage", ["overvoltage"],
     "The DC bus voltage rose above its limit. The motor is regenerating energy into the drive, normally because the deceleration time P08 is too short, or the supply voltage is too high.",
     "Lengthen the deceleration time P08 or fit the optional braking resistor. The drive restarts automatically up to the number of attempts in P40.",
     "auto"),
    ("E05", "DC bus undervoltage", ["undervoltage"],
     "The DC bus voltage fell below its limit, normally because of a supply dip, a blown input fuse or a loose supply terminal.",
     "Check the three supply voltages and the input fuses. The drive restarts automatically up to the number of attempts in P40.",
     "auto"),
    ("E06", "Input phase loss", ["input phase"],
     "One of the three supply phases is missing or the supply is badly unbalanced.",
     "Check the input fuses, the isolator contacts and the supply terminals. The drive restarts automatically up to the number of attempts in P40.",
     "auto"),
    ("E07", "Output phase loss", ["output phase"],
     "The drive measured no current in one motor phase: a broken motor cable core, a loose motor terminal or an open winding.",
     "Isolate, then check the motor terminal box and measure the winding resistances; the three values must agree within 5%.",
     "manual"),
    ("E08", "Drive overtemperature", ["heatsink"],
     f"The heatsink temperature exceeded {AD7['heatsink_c']} °C. The cooling air is blocked, the cabinet filters are clogged or the ambient temperature is above the {AD7['ambient_c']} °C rating.",
     "Clean the heatsink and the cabinet filters, check the cooling fan (see E25) and the cabinet ventilation, then reset once the heatsink has cooled.",
     "manual"),
    ("E09", "Motor overload", ["overload"],
     "The calculated motor thermal load (I²t) reached 100%. Either P01 is set too low, or the pump is running far to the right of its curve and drawing too much power.",
     "Check P01 against the motor nameplate current and check the duty point: a burst pipe or an open bypass can push the pump into overload.",
     "manual"),
    ("E10", "Motor thermistor trip", ["thermistor"],
     "The PTC thermistor (or, on the VXS-80, the winding thermal switch) in the motor opened because the winding is too hot.",
     "Let the motor cool, check the motor cooling (fan cowl, or liquid level for the VXS-80) and the starts per hour. The fault cannot be reset until the sensor has closed again.",
     "manual"),
    ("E11", "Ground fault (earth fault)", ["ground fault"],
     "Current is leaking to earth from the motor cable or the motor winding, often because of moisture in the terminal box.",
     "Isolate and insulation-test the cable and motor at 500 V DC with the drive disconnected; less than 1 MΩ means the motor must be dried out or repaired.",
     "manual"),
    ("E12", "Dry-run protection", ["dry"],
     "The shaft power stayed below the dry-run threshold P20 for longer than the delay P21. The pump has lost its prime or the suction is blocked.",
     "Check that the suction valve is open and the suction strainer is clear, re-prime and vent the pump, then reset. Do not raise P20 to make the fault go away.",
     "manual"),
    ("E13", "Low suction pressure", ["suction pressure"],
     "The suction pressure measured on AI2 fell below the trip level P23, which means the pump is at risk of cavitation.",
     "Check the suction valve, strainer and tank level, and compare the NPSH available with the pump's NPSH required (see Troubleshooting: Cavitation).",
     "manual"),
    ("E14", "High discharge pressure", ["discharge pressure"],
     "The discharge pressure measured on AI1 exceeded the high-pressure limit. A discharge valve is closed or a non-return valve is stuck shut.",
     "Open the discharge valve, check the non-return valve, and never restart against a closed valve.",
     "manual"),
    ("E15", "Pressure sensor signal lost", ["pressure sensor"],
     "The 4-20 mA signal from a pressure transmitter dropped below 3.5 mA: a broken wire, a failed transmitter or a missing 24 V supply.",
     "Check the transmitter wiring and its 24 V supply, and measure the loop current at the terminals.",
     "auto"),
    ("E16", "Flow sensor fault", ["flow sensor"],
     "The flow meter input is missing or outside its range.",
     "Check the flow meter, its wiring and the scaling of the input; the drive keeps running in speed control while the fault is present.",
     "auto"),
    ("E17", "Bearing overtemperature", ["bearing"],
     "The PT100 sensor on the pump bearing housing read above the trip level P27.",
     "Check the oil level and oil condition, then the alignment. Find the cause before restarting; a hot bearing usually fails soon afterwards.",
     "manual"),
    ("E18", "High vibration", ["vibration"],
     "The vibration transmitter on the bearing housing read above the trip level P29.",
     "Measure the vibration at all bearing positions and follow Troubleshooting: Vibration before restarting.",
     "manual"),
    ("E19", "Seal leak detected", ["seal"],
     "The moisture probe in the oil chamber (VXS-80) or the barrier-fluid level switch (VX-450 double seal) has detected a seal leak.",
     "Plan a seal replacement. On the VXS-80 check the oil chamber; on the VX-450 check the barrier-fluid level and pressure.",
     "manual"),
    ("E20", "Fieldbus communication loss", ["communication"],
     "No valid Modbus message has been received for longer than the timeout P35.",
     "Check the RS-485 cable, the termination resistors and the master's polling cycle; raise P35 only if the master polls slowly by design.",
     "auto"),
    ("E21", "Keypad disconnected", ["keypad"],
     "The keypad lost contact with the control board while it was the active control place.",
     "Re-seat the keypad cable. If the pump must keep running without the keypad, switch the control place to terminals first.",
     "auto"),
    ("E22", "Parameter memory error", ["memory"],
     "The checksum of the stored parameters is wrong, usually after a power loss during a parameter save.",
     "Restore the factory defaults with P99 and re-enter the settings from the commissioning report. If E22 returns, replace the control board.",
     "manual"),
    ("E23", "Motor stall", ["stall"],
     "The motor did not reach the commanded speed: the rotor is locked, typically by a seized bearing or an impeller jammed by debris.",
     "Isolate, then turn the shaft by hand. Clear the impeller or replace the bearings before you try again.",
     "manual"),
    ("E24", "Too many starts per hour", ["starts"],
     "The number of starts in the last 60 minutes exceeded P33.",
     "Widen the start/stop hysteresis of the level or pressure control so that the pump runs longer and starts less often.",
     "auto"),
    ("E25", "Cooling fan failure", ["fan"],
     "The drive's internal cooling fan has stopped or is running too slowly.",
     "Replace the fan module; the drive limits its output current to 50% until the fault clears.",
     "manual"),
]

SAFETY = {"casing_c": 40, "pressure": "0 bar"}
WARRANTY = {
    "months_commission": 24, "months_ship": 30, "seal_months": 12, "claim_days": 30,
    "claim_form": "AQ-WC-01", "aquicare_months": 60, "retain_days": 60,
}
INTERVALS = {"vib": "every month", "align_months": 6, "wear_months": 12, "overhaul_h": 25000, "overhaul_years": 5}
STORAGE = {"turns": 5, "rotate_weeks": 2, "tmin": -20, "tmax": 50, "long_months": 3, "air_bar": 2, "glycol_pct": 40}
PRIMING = {"jog_s": 2, "open_s": 30, "readings_h": 2, "report": "AQ-CR-01", "report_days": 14}
CAVITATION = {"margin_m": 1.0, "margin_factor": 1.3, "suction_vel": 2}
VIBRATION = {"accept": 2.8}
PARTS = {"lead_days": 5, "express_h": 24, "return_days": 30}


# ---------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------

def es_ctx(d: dict) -> dict:
    """String view of an end-suction model for templates (numbers pre-formatted)."""
    c = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in d.items()}
    c["m"] = d["model"]
    return c


def seal_setting_answer(d: dict) -> tuple[str, str]:
    m = d["model"]
    if d["seal_kind"] == "component":
        return (f"The {m} uses a component seal that is set by dimension: slide the rotating unit along the "
                f"shaft until its back face is {g(d['seal_set'])} mm from the seal-chamber face, then lock its "
                f"grub screws.", f"{g(d['seal_set'])} mm")
    return (f"The {m} seal is a pre-set cartridge: with the seal plate bolted down, tighten the drive-collar "
            f"set screws to {g(d['seal_set'])} N·m and then remove the setting clips before start-up.",
            "setting clips")


def doc_es_specifications(d: dict) -> tuple[str, str]:
    c = es_ctx(d)
    t = f"""# Vortex {c['m']} End-Suction Pump: Technical Specifications

The Vortex {c['m']} from Aquilon Pumpworks is a single-stage, end-suction centrifugal pump of back pull-out design. It is supplied as a complete unit with motor, flexible spacer coupling, coupling guard and fabricated steel baseplate, and is typically specified for {c['applications']}. This data sheet gives the rated performance, the operating limits and the main construction details of the standard {c['m']} build. All figures refer to clean cold water at 20 °C and a 50 Hz supply unless a note says otherwise.

Before you rely on any figure, compare it with the nameplate riveted to the bearing bracket. Pumps built to a customer data sheet may have a trimmed impeller or a different motor, and the nameplate always takes precedence over this document.

## Rated performance

At its best efficiency point the {c['m']} delivers {c['flow']} m³/h against a total head of {c['head']} m. It is driven by a {c['kw']} kW, {c['poles']}-pole motor with a rated speed of {c['rpm']} rpm. The full-diameter impeller measures {c['imp']} mm. Impellers can be trimmed to match a lower duty, but never below {c['imp_min']} mm: a smaller impeller loses efficiency quickly, and the vane tips no longer cover the volute tongue, which makes the pump noisy.

| Parameter | Value |
|---|---|
| Rated flow | {c['flow']} m³/h |
| Rated head | {c['head']} m |
| Motor power | {c['kw']} kW |
| Rated speed | {c['rpm']} rpm |
| Impeller diameter, full / minimum trim | {c['imp']} mm / {c['imp_min']} mm |
| NPSH required at rated flow | {c['npshr']} m |
| Minimum continuous flow | {c['qmin']} m³/h |
| Suction / discharge flange | DN{c['dn_s']} / DN{c['dn_d']}, PN16 drilling |

## Operating limits

The maximum permitted temperature of the pumped liquid is {c['tmax']} °C, and the casing is rated for a maximum working pressure of {c['pmax']} bar. The working pressure is the suction pressure plus the shut-off head of the pump, so check both values when the {c['m']} is used as a booster on a pressurised main.

The NPSH required (NPSHr) at rated flow is {c['npshr']} m. The installation must provide more than this, with a safety margin; Troubleshooting: Cavitation explains how to calculate it. Do not run the {c['m']} continuously below {c['qmin']} m³/h. At very low flow the liquid in the casing recirculates and heats up, the radial load on the shaft rises and the mechanical seal can run without a proper liquid film.

## Construction

The casing is made of {c['casing_mat']}, and the closed impeller is {c['impeller_mat']}. The shaft is sealed by a {c['seal_desc']} and runs in two oil-lubricated rolling bearings in a separate bearing bracket. Thanks to the back pull-out design, the complete rotating assembly (bearing bracket, shaft, seal and impeller) can be withdrawn towards the motor without disconnecting the suction or discharge piping, once the spacer of the coupling has been removed.

Flanges are drilled to PN16 as standard. The casing has a priming plug at the top, a drain plug at the bottom and tappings for suction and discharge pressure gauges.

## Handling and identification

A complete {c['m']} unit (pump, motor and baseplate) weighs about {c['weight']} kg. {c['lift_note']} Keep the flange covers in place until the pipework is connected, so that no dirt gets into the casing.

The nameplate carries the model, the serial number, the impeller diameter actually fitted and the rated duty point. Detailed procedures for this model are in the installation and alignment, seal replacement, impeller and wear ring replacement, and bearings and lubrication manuals for the {c['m']}.
"""
    return f"{d['slug']}-specifications", t


def doc_es_installation(d: dict) -> tuple[str, str]:
    c = es_ctx(d)
    t = f"""# Vortex {c['m']} Installation and Shaft Alignment

This manual covers setting the Vortex {c['m']} on its foundation, connecting the pipework and aligning the pump and motor shafts. Careful installation is the single biggest factor in the life of the seal and the bearings: most early failures we see under warranty trace back to pipe strain or poor alignment. Read Safety: Lockout/Tagout before you start, and do not connect the motor supply until the alignment is complete.

## Foundation and baseplate

The foundation should be reinforced concrete with a mass of at least three times the weight of the complete unit, and its top surface should be level to within 2 mm per metre. Set the baseplate on steel shims next to each anchor bolt, level it and grout it in with a non-shrink grout, filling the baseplate completely so that no voids remain. Let the grout cure for at least 48 hours.

The {c['m']} is held down by {c['anchor']} foundation (anchor) bolts. Once the grout has cured, tighten them evenly to {c['foot']} N·m.

{c['install_note']}

## Suction and discharge piping

Support the pipework independently so that no pipe load reaches the pump flanges. A simple check: with the flange bolts removed, the pipe flanges should line up with the pump flanges without being pulled or pried into place.

On the suction side, provide a straight run of at least {c['straight']} pipe diameters directly upstream of the DN{c['dn_s']} suction flange, so that the liquid reaches the impeller eye evenly. Never connect a bend or a valve directly to the suction flange. Fit an isolating valve and a non-return valve in the discharge line, and a pressure gauge on both sides of the pump.

## Soft foot check

Before aligning, check the motor for soft foot. With a dial indicator on one motor foot, loosen that foot's bolt and watch the reading. If the foot lifts by more than {c['soft']} mm, add shims under it until the reading is {c['soft']} mm or less, then tighten the bolt again and repeat at the next foot.

## Aligning the shafts

Align the shafts with the coupling spacer removed, using a laser alignment tool or two dial indicators. Always move the motor, never the pump.

1. Lock out the motor supply and the AquiDrive AD-7 as described in Safety: Lockout/Tagout.
2. Remove the coupling guard and the coupling spacer.
3. Check that the distance between the coupling hubs (the coupling gap) is {c['gap']} mm; correct it by moving the motor axially if needed.
4. Measure the parallel (offset) misalignment in the vertical and horizontal planes. It must not exceed {c['par']} mm.
5. Measure the angular misalignment. It must be within {c['ang']} mm per 100 mm of coupling diameter.
6. Correct vertical errors with shims under the motor feet and horizontal errors with the jacking screws, then tighten the motor foot bolts.
7. Measure again after tightening. Repeat steps 4 to 6 until the readings are within the tolerances below.
8. Refit the coupling spacer and the coupling guard before the lockout is removed.

| Check | Tolerance for the {c['m']} |
|---|---|
| Parallel (offset) misalignment | max {c['par']} mm |
| Angular misalignment | max {c['ang']} mm per 100 mm coupling diameter |
| Coupling gap | {c['gap']} mm |
| Soft foot | max {c['soft']} mm |

## Final checks

After the suction and discharge pipes are bolted up and filled, check the alignment again. If it has moved by more than half of the tolerance, the pipework is straining the pump and must be corrected before the first start. Record the final readings in the commissioning report.
"""
    return f"{d['slug']}-installation-alignment", t


def doc_es_seal(d: dict) -> tuple[str, str]:
    c = es_ctx(d)
    lube = ("Never lubricate EPDM elastomers with mineral oil or grease, as they will swell; use clean water or glycerine."
            if d["elast"] == "EPDM" else
            "FKM elastomers may be lubricated with a thin film of silicone grease or clean water.")
    if d["seal_kind"] == "component":
        remove = ("4. Undo the seal gland (seal plate) bolts and lift off the seal plate together with the stationary seat of the seal.\n"
                  "5. Loosen the grub screws and slide the rotating unit off the shaft. Inspect the shaft, or the shaft sleeve where "
                  "fitted, for scoring; a groove deeper than 0.1 mm means the sleeve or the shaft must be replaced.")
        seat = "Press the stationary seat squarely into the seal plate, using the protective card from the kit."
        setting = (f"Slide the rotating unit onto the shaft and set it by dimension: its back face must be "
                   f"{c['seal_set']} mm from the seal-chamber face. Lock the grub screws.")
        kit = "the rotating unit, the stationary seat with its O-ring and the seal-plate gasket"
    else:
        remove = ("4. Refit the setting clips to the old cartridge and loosen the drive-collar set screws.\n"
                  "5. Undo the seal gland (seal plate) bolts and slide the complete cartridge off the shaft. Inspect the shaft "
                  "sleeve under the cartridge for scoring; a groove deeper than 0.1 mm means the sleeve must be replaced.")
        seat = "Check that the setting clips of the new cartridge are in place and that its gasket is seated in the gland."
        setting = (f"Slide the cartridge onto the shaft until it sits against the seal chamber. Once the seal plate "
                   f"is bolted down, tighten the drive-collar set screws to {c['seal_set']} N·m, then remove the "
                   f"setting clips. Keep the clips for the next removal.")
        kit = "the complete pre-assembled cartridge with its setting clips and the seal-plate gasket"
    barrier = ""
    if "barrier_bar" in d:
        barrier = f"""
## Barrier fluid system

The {c['m']} double seal needs a pressurised barrier fluid between the inboard and outboard seals. Fill the barrier vessel with clean demineralised water and set its nitrogen pressure so that the barrier pressure is {g(d['barrier_bar'])} bar above the pressure in the seal chamber. If the barrier pressure falls below this, the inboard faces can open and pumped liquid will enter the barrier system. The level switch on the vessel is wired to the AquiDrive AD-7 and raises fault E19 when the level drops.
"""
    t = f"""# Vortex {c['m']} Mechanical Seal Replacement

The Vortex {c['m']} is sealed by a {c['seal_desc']}. The seal faces are {c['faces']}, and the elastomers are {c['elast']}. The replacement kit is part number {c['seal_kit']} and contains {kit}. This manual describes how to replace the seal with the rotating assembly withdrawn from the casing (back pull-out), so the casing and the pipework stay in place.

A worn seal normally shows itself as a steady drip from the tell-tale hole at the bottom of the bearing bracket. {c['seal_note']}

> **Warning:** Isolate the motor and the AquiDrive AD-7 as described in Safety: Lockout/Tagout, close and lock the suction and discharge valves and drain the casing before you loosen any bolt. The liquid may be hot.

## Parts and tools

- Mechanical seal kit {c['seal_kit']}
- Gasket set for the {c['m']} (see Spare Parts and Ordering)
- Torque wrench covering {c['gland']} N·m
- Lint-free cloths, isopropyl alcohol and elastomer lubricant

## Removing the old seal

1. Remove the coupling guard and the coupling spacer.
2. Undo the casing bolts and withdraw the back pull-out assembly with the jacking screws. Support the assembly; do not let it hang on the shaft.
3. Lock the shaft, remove the impeller nut and pull off the impeller. Keep the key.
{remove}

## Fitting the new seal

1. Clean the shaft and the seal chamber. Handle the seal faces by their edges only and wipe them with alcohol; a fingerprint is enough to make a new seal leak.
2. {lube}
3. {seat}
4. {setting}
5. Refit the seal plate and tighten the gland bolts evenly, in a cross pattern, to {c['gland']} N·m.
6. Refit the impeller and the back pull-out assembly. Tighten the impeller nut and the casing bolts to the values in the {c['m']} Impeller and Wear Ring Replacement manual.
7. Turn the shaft by hand: it must turn freely, without any scraping noise from the seal.
{barrier}
## Run-in and leak check

Fill and vent the pump as described in Priming and Commissioning, then start it. A new seal may weep slightly while its faces bed in. Allow a run-in period of {c['runin']} h on the {c['m']}. After {c['runin']} h of running there should be no visible leakage at all. If a steady drip continues, stop the pump and check the seal setting and the faces; do not keep running a leaking seal, because the leakage washes out the bearing oil through the tell-tale hole.
"""
    return f"{d['slug']}-seal-replacement", t


def doc_es_impeller(d: dict) -> tuple[str, str]:
    c = es_ctx(d)
    example = f"{d['imp_part']}-T{d['imp_min'] + 15}"
    t = f"""# Vortex {c['m']} Impeller and Wear Ring Replacement

Over time the impeller and the casing wear ring of the Vortex {c['m']} wear, particularly when the liquid carries sand or the pump has been cavitating. The gap between the impeller neck and the wear ring then widens, more liquid leaks back from the discharge side to the suction side and the pump loses head and flow. This manual explains when to replace the parts and how to do it.

{c['imp_note']}

## When to replace

Measure the diametral clearance between the impeller neck and the wear ring at every major inspection, and whenever the pump no longer reaches its duty point. On the {c['m']} the clearance is {c['wr_new']} mm when new. Replace the wear ring when the clearance reaches {c['wr_max']} mm, which is twice the new value. Replace the impeller as well if the neck is worn oval, if the vane tips are eroded, or if cavitation pitting is deeper than 2 mm.

## Parts

| Part | Part number |
|---|---|
| Impeller, full diameter | {c['imp_part']} |
| Casing wear ring | {c['wr_part']} |
| Casing gasket and O-rings | gasket set, see Spare Parts and Ordering |

Trimmed impellers are ordered with the suffix -T followed by the trimmed diameter in millimetres, for example {example}. Always quote the impeller diameter from the pump nameplate.

## Dismantling

1. Isolate and lock out the pump as described in Safety: Lockout/Tagout, then drain the casing.
2. Remove the coupling guard and the coupling spacer.
3. Undo the casing bolts and withdraw the back pull-out assembly with the jacking screws.
4. Lock the shaft with the shaft-locking tool, undo the impeller nut and pull off the impeller. Keep the key.
5. Press or drive the old wear ring out of the casing. It is an interference fit; do not damage the bore.

## Measuring the clearance

Measure the outside diameter of the impeller neck with a micrometer at three positions 120° apart, and the bore of the wear ring with an internal micrometer at the same positions. The clearance is the smallest bore reading minus the largest neck reading. Compare the result with the limits above.

## Reassembly

1. Cool the new wear ring or warm the casing bore slightly and press the ring in until it is fully home.
2. Fit the key and the impeller. Tighten the impeller nut to {c['imp_nut']} N·m while holding the shaft with the locking tool.
3. Fit a new casing gasket from the gasket set.
4. Push the back pull-out assembly into the casing. Tighten the casing bolts in a cross pattern in two stages, first to half the final torque and then to {c['casing']} N·m.
5. Turn the shaft by hand and check that the impeller does not rub.
6. Refit the coupling spacer, check the alignment and refit the coupling guard.

| Fastener | Size | Torque |
|---|---|---|
| Impeller nut | thread on shaft end | {c['imp_nut']} N·m |
| Casing bolts | {c['casing_bolt']} | {c['casing']} N·m |

After reassembly, prime and vent the pump and check the duty point against the nameplate. If the head is still low with a new impeller and wear ring, check the suction conditions and the direction of rotation.
"""
    return f"{d['slug']}-impeller-replacement", t


def doc_es_bearings(d: dict) -> tuple[str, str]:
    c = es_ctx(d)
    t = f"""# Vortex {c['m']} Bearings and Lubrication

The shaft of the Vortex {c['m']} runs in two rolling bearings in an oil bath in the bearing bracket. This manual gives the bearing designations, the lubrication data and the procedure for replacing the bearings. Good lubrication is simple but it matters: most bearing failures on end-suction pumps are caused by the wrong oil level, contaminated oil or an oil change that was forgotten.

## Bearing arrangement

The impeller-end bearing is a {c['brg_ie']}, which carries the radial load. The coupling-end bearing is a {c['brg_ce']}, which carries the axial thrust from the impeller as well as radial load. Both bearings, the two lip seals and the circlip are supplied together in bearing kit {c['brg_kit']}. Always replace both bearings together.

## Oil lubrication

Use ISO VG {c['vg']} mineral turbine oil with rust and oxidation inhibitors. The bearing housing of the {c['m']} holds {c['oil_l']} L. Fill it through the filler plug until the oil reaches the mark on the sight glass, with the pump stopped.

Change the oil for the first time after 200 running hours, to flush out particles from the running-in of the new bearings. After that, change it every {c['oil_h']} operating hours, and at least once a year even if the pump has run less. Change it immediately if the oil looks milky (water) or dark (overheating).

{c['brg_note']}

## Temperature

Measure the temperature on the outside of the bearing housing, over each bearing. On the {c['m']} it must not exceed {c['brg_t']} °C. If it does, stop the pump and look for the cause: the oil level and condition first, then the alignment and the coupling. Where a PT100 sensor is fitted, set the AquiDrive AD-7 bearing trip P27 to {c['brg_t']} °C.

## Replacing the bearings

1. Isolate and lock out the pump as described in Safety: Lockout/Tagout.
2. Withdraw the back pull-out assembly and remove the impeller and seal (see the {c['m']} Mechanical Seal Replacement manual).
3. Drain the oil and remove the coupling hub with a puller.
4. Remove the bearing housing end covers and press the shaft with both bearings out towards the coupling end.
5. Remove the circlip and pull the old bearings off the shaft. Never reuse a bearing that has been pulled off.
6. Heat each new bearing with an induction heater to 110 °C (never above 120 °C and never with a flame) and slide it onto the shaft against its shoulder. Hold it in place until it has cooled and gripped the shaft.
7. Fit the circlip, press the shaft assembly back into the housing and fit new lip seals in the end covers.
8. Tighten the end cover screws to {c['cover']} N·m.
9. Refit the coupling hub, the seal and the impeller, and fill the housing with {c['oil_l']} L of ISO VG {c['vg']} oil.

After the first start, check the bearing temperature every 15 minutes for the first two hours. New bearings often run a few degrees warmer at first and then settle.
"""
    return f"{d['slug']}-bearings-lubrication", t


def doc_vxs80_specifications() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXS80.items()}
    t = f"""# Vortex VXS-80 Submersible Pump: Technical Specifications

The Vortex VXS-80 is a submersible drainage and wastewater pump for sumps, lift stations and site dewatering. Motor and pump form one close-coupled unit: the motor sits in a sealed, oil-free housing above the volute and is cooled by the liquid around it. The pump is normally installed on a guide-rail system, so it can be lifted out for service without anyone entering the pit.

This data sheet gives the rated performance, the operating limits and the construction of the standard VXS-80. Figures refer to clean water at 20 °C and a 50 Hz supply.

## Rated performance

At its best efficiency point the VXS-80 delivers {s['flow']} m³/h against a total head of {s['head']} m. It is driven by a {s['kw']} kW four-pole motor with a rated speed of {s['rpm']} rpm. The two-channel impeller has a free solids passage of {s['solids']} mm, so it handles raw sewage, rags in moderate amounts and surface water with grit.

| Parameter | Value |
|---|---|
| Rated flow | {s['flow']} m³/h |
| Rated head | {s['head']} m |
| Motor power | {s['kw']} kW |
| Rated speed | {s['rpm']} rpm |
| Free solids passage | {s['solids']} mm |
| Discharge connection | DN{s['dn_d']}, PN10 |
| Enclosure | {s['ip']} |
| Weight including {s['cable_m']} m of cable | {s['weight']} kg |

## Operating limits

The maximum temperature of the pumped liquid is {s['tmax']} °C. The pump may be submerged to a maximum depth of {s['depth']} m below the liquid surface. The liquid may have a pH between 5 and 9 and a density of up to 1100 kg/m³; for more aggressive or denser liquids, ask Aquilon for the stainless-steel version.

The VXS-80 must not run dry. The motor relies on the surrounding liquid for cooling, so the minimum stop level in the installation manual must be respected, and the pump must not be used for emptying a pit completely.

## Construction

The volute and motor housing are grey cast iron EN-GJL-250 with a two-part epoxy coating; the impeller is ductile iron EN-GJS-500-7. The shaft is sealed by two mechanical seals with an oil chamber between them. A moisture probe in the oil chamber warns of a failing lower seal, and thermal switches in the motor winding protect the motor against overheating; both are wired to the AquiDrive AD-7 or to a level controller.

## Cable

Each pump is supplied with {s['cable_m']} m of {s['cable']} cable, moulded into the cable entry. The seven cores carry the three motor phases, earth, the two thermal-switch wires and the moisture-probe wire. Longer cables are available in 5 m steps; never join cables inside the pit.
"""
    return "vxs-80-specifications", t


def doc_vxs80_installation() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXS80.items()}
    t = f"""# Vortex VXS-80 Installation and Level Control

This manual describes how to install the Vortex VXS-80 submersible pump in a wet well on the Aquilon guide-rail system, how to set the level controls and how to check the direction of rotation. Read Safety: Lockout/Tagout before you start; working over an open pit also requires a fall-protection plan and gas monitoring.

## Guide-rail system

The standard installation uses guide-rail kit {s['guide_rail']}. It consists of a duckfoot bend bolted to the pit floor, two guide rails and an upper guide-rail bracket under the cover frame. The pump slides down the rails on its claw and seals itself against the duckfoot by its own weight, so no one has to enter the pit to connect or disconnect it.

1. Bolt the duckfoot bend to the pit floor with chemical anchors, level it and connect the DN{s['dn_d']} discharge pipe.
2. Fit the upper bracket under the cover frame exactly above the duckfoot and install the guide rails between them.
3. Fix lifting chain {s['chain']} to the pump's lifting eye. The chain is {s['chain_m']} m long, galvanised, and rated for {s['chain_kg']} kg.
4. Lower the pump down the rails on the chain until it seats on the duckfoot. Hook the top of the chain onto the bracket under the cover.
5. Fasten the cable to the chain or to a separate wire with cable clips, leaving enough slack that the cable cannot be pulled taut when the pump seats.

Never lift, lower or hang the pump by its power cable. The cable entry is sealed against water, not designed to carry load, and a pulled cable lets water into the motor.

## Level control

Float switches or a level transmitter start and stop the pump. Measure all levels from the pit floor:

| Level | Height above pit floor |
|---|---|
| Pump start | {s['float_start']} mm |
| Pump stop | {s['float_stop']} mm |
| High-level alarm | {s['float_alarm']} mm |

The stop level keeps the volute covered and the motor cooled. Do not set it lower. The VXS-80 may start at most {s['starts_h']} times per hour, evenly spaced; if it starts more often, the start and stop levels are too close together. When the pump is run from an AquiDrive AD-7, set P33 to {s['starts_h']} for the VXS-80.

## Electrical connection and rotation

Connect the thermal-switch wires to the thermistor input of the AD-7 (fault E10) and the moisture-probe wire to digital input DI4 (fault E19). The pump must not run with either protection bridged.

Check the direction of rotation before lowering the pump: with the pump hanging on the chain clear of the floor, start it for a moment. Seen from above, the pump jerks anticlockwise, against the clockwise rotation of the impeller. If it jerks clockwise, swap two phases at the drive output.
"""
    return "vxs-80-installation", t


def doc_vxs80_service() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXS80.items()}
    t = f"""# Vortex VXS-80 Service and Seal Inspection

The Vortex VXS-80 needs little routine service, but its oil chamber and impeller clearance must be checked regularly. A neglected oil chamber is the most common reason for a flooded motor. This manual covers the oil check, seal replacement, impeller clearance adjustment and the motor thermal protection.

Always lift the pump out of the pit on its chain and wash it down before service. Isolate it as described in Safety: Lockout/Tagout; unplugging the cable is not enough if the drive is still energised.

## Oil chamber inspection

The oil chamber between the upper and lower mechanical seals holds {s['oil_l']} L of {s['oil_grade']}. Inspect it every {s['oil_h']} operating hours or every {s['oil_months']} months, whichever comes first.

1. Lay the pump on its side with the oil plug uppermost and unscrew the plug slowly; the chamber may be under slight pressure.
2. Tip the pump and take an oil sample in a clear glass.
3. Clear oil: refill with fresh oil to the full {s['oil_l']} L and refit the plug with a new sealing washer.
4. Slightly cloudy oil: change the oil and check again after 500 h.
5. Milky oil, or a water content of more than {s['water_pct']}%: the lower seal is leaking. Replace both seals with double seal kit {s['seal_kit']}.

## Replacing the seals

The kit {s['seal_kit']} contains the upper and lower seals, the O-rings and the sealing washers. Remove the volute and the impeller, drain the oil chamber, and pull the lower seal and then the upper seal. Fit the new seals with clean hands and clean faces, fill the chamber with {s['oil_l']} L of fresh oil and pressure-test it at 1 bar for 5 minutes before refitting the impeller.

## Impeller clearance

The clearance between the impeller and the wear plate must be {s['clr_min']}-{s['clr_max']} mm. When it has grown to {s['clr_adjust']} mm the pump loses head and pumps rags less well; readjust it with the three adjusting screws on the wear plate. If the clearance can no longer be set, replace the impeller (part {s['imp_part']}). Tighten the impeller bolt to {s['imp_bolt']} N·m.

## Motor thermal protection

Thermal switches in the motor winding open at {s['thermal_c']} °C and close again automatically once the winding has cooled. When they open, the AD-7 trips on E10. Frequent thermal trips mean the motor is not being cooled: check that the stop level keeps the pump submerged, that the pump is not clogged and that it does not start more often than allowed.

## Cable inspection

At every service, inspect the cable along its full length for cuts, crushing and swelling, and measure the insulation resistance at 500 V DC. Replace a damaged cable complete; never repair a submersible cable with tape.
"""
    return "vxs-80-service", t


def doc_vxm4_specifications() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXM4.items()}
    t = f"""# Vortex VXM-4 Multistage Pump: Technical Specifications

The Vortex VXM-4 is a vertical in-line multistage centrifugal pump with {s['stages']} stages. The suction and discharge flanges are on the same centre line in the pump foot, so the pump can be fitted straight into a pipe run. It is used for boiler feed, pressure boosting in buildings, washing systems and reverse-osmosis feed, wherever high pressure is needed at modest flow.

This data sheet gives the rated performance, the operating limits and the construction of the standard VXM-4. Figures refer to clean water at 20 °C and a 50 Hz supply.

## Rated performance

At its best efficiency point the VXM-4 delivers {s['flow']} m³/h against a total head of {s['head']} m. It is driven by a {s['kw']} kW two-pole motor at {s['rpm']} rpm, mounted on top of the pump on a motor stool. The NPSH required at rated flow is {s['npshr']} m, which is low enough for most booster applications.

| Parameter | Value |
|---|---|
| Number of stages | {s['stages']} |
| Rated flow | {s['flow']} m³/h |
| Rated head | {s['head']} m |
| Motor power | {s['kw']} kW |
| Rated speed | {s['rpm']} rpm |
| NPSH required at rated flow | {s['npshr']} m |
| Minimum continuous flow | {s['qmin']} m³/h |
| Flanges (in-line) | DN{s['dn']}, PN25 |
| Weight with motor | {s['weight']} kg |

## Operating limits

The VXM-4 is rated for a maximum working pressure of {s['pmax']} bar and a maximum liquid temperature of {s['tmax']} °C. Do not run it continuously below {s['qmin']} m³/h. Because all stages are on one shaft, a multistage pump heats the trapped liquid very quickly when the flow stops, so a minimum-flow bypass or the AD-7 minimum frequency must protect it in systems where demand can fall to zero.

## Construction

The impellers, diffusers, outer sleeve and shaft are stainless steel 1.4301; the pump head and the foot are cast iron EN-GJL-250 with a cataphoretic coating. The stages are held between the head and the foot by four tie bolts. The shaft is sealed by a cartridge mechanical seal in the pump head, which can be replaced without dismantling the stage stack. The pump has no bearing of its own: the motor's bearings carry the shaft, which is joined to the motor by a split rigid coupling.

## Handling

Lift the VXM-4 only by the lifting straps supplied with it, around the motor stool. The pump is top-heavy; never stand it on the ground without its foot bolted to a pallet or a base.
"""
    return "vxm-4-specifications", t


def doc_vxm4_installation() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXM4.items()}
    t = f"""# Vortex VXM-4 Installation and Commissioning

This manual describes how to install and start up the Vortex VXM-4 vertical multistage pump. The VXM-4 is simpler to install than an end-suction pump, because it has a rigid coupling and needs no alignment on site, but it is less forgiving of running dry or against a closed valve.

## Mounting

Mount the pump upright on a level, rigid base or a concrete plinth. The arrows on the pump foot show the direction of flow; the suction side is marked IN. Fix the foot with four M12 bolts and tighten them to {s['base_bolts']} N·m. Support the suction and discharge pipes close to the pump, so that the pipe weight does not rest on the flanges, and fit isolating valves on both sides to allow seal replacement without draining the system.

Leave at least 300 mm of free space above the motor for the fan and for lifting the motor off during maintenance.

## Filling and venting

The VXM-4 is not self-priming. With the suction valve open and the discharge valve closed:

1. Remove the priming plug in the pump head.
2. Fill the pump slowly through the priming plug opening, or let it fill from a flooded suction, until water flows out.
3. Open the vent screw in the pump head and let the air escape until a steady stream of water comes out, then close it.
4. Refit the priming plug.

## Direction of rotation

Check the direction of rotation by looking at the motor fan through the cowl while you start the motor briefly. It must turn in the direction of the arrow on the motor stool (clockwise seen from above). If it turns the wrong way, isolate and swap two phases.

## First start

Start the pump with the discharge valve closed and open the valve straight away. Do not run the VXM-4 against a closed discharge valve for more than {s['closed_valve_s']} seconds: with all four stages churning the same liquid, the temperature rises fast enough to damage the seal.

When the VXM-4 is controlled by an AquiDrive AD-7, set the minimum frequency P10 to {s['p10_hz']} Hz instead of the drive's default. Below that speed the VXM-4 no longer produces enough pressure to open the non-return valve in a typical booster set, and it churns without flow.

## Commissioning checks

After 2 hours of running, check the seal for leakage, record the suction and discharge pressures and the motor current, and measure the vibration on the motor stool. Enter the readings in the commissioning report as described in Priming and Commissioning.
"""
    return "vxm-4-installation-commissioning", t


def doc_vxm4_maintenance() -> tuple[str, str]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXM4.items()}
    t = f"""# Vortex VXM-4 Maintenance and Seal Replacement

The Vortex VXM-4 has no bearing bracket and no oil, so routine maintenance is limited to the seal, the coupling and the motor bearings. This manual explains how to replace the cartridge seal, how to set the shaft height when the coupling is reassembled, and how to replace the stage stack.

Isolate the pump as described in Safety: Lockout/Tagout, close the isolating valves on both sides and drain the pump through the drain plug in the foot before any work.

## Replacing the cartridge seal

The seal is cartridge {s['seal_kit']}. It can be replaced with the pump in the pipework; only the motor has to be lifted off.

1. Remove the coupling guards. Loosen the coupling screws and take off the two coupling halves.
2. Undo the motor stool bolts and lift the motor off with a sling.
3. Undo the three seal cartridge screws and pull the cartridge off the shaft.
4. Clean the seal housing in the pump head, lubricate the new O-rings with water and push the new cartridge home. Tighten its three screws evenly.
5. Refit the motor and the coupling as described below.

## Setting the shaft height

The impeller stack must hang at the correct height, or the impellers rub against the diffusers. Place the setting fork {s['fork']} between the coupling and the seal cartridge before you tighten the coupling. The fork lifts the shaft by {s['lift_mm']} mm from its lowest position.

1. Fit both coupling halves around the pump and motor shafts with the fork in place.
2. Tighten the coupling screws evenly, alternating sides, to {s['coupling_screw']} N·m. The gap between the coupling halves must be the same on both sides.
3. Remove the fork and turn the shaft by hand; it must turn freely.
4. Refit the coupling guards.

## Replacing the stage stack

If the pump no longer reaches its head, the stages are worn. Stage kit {s['stage_kit']} contains a complete set of impellers, diffusers and neck rings for the four stages. Remove the motor and the seal, undo the four tie-bolt nuts and lift the pump head off the outer sleeve. Pull the stack out, fit the new kit in the same order and refit the head. Tighten the tie-bolt nuts in a cross pattern to {s['tie_bolt']} N·m.

## Motor bearings

The motor bearings are greased for life and need no relubrication. Replace them every {s['motor_brg_h']} operating hours, or sooner if the motor becomes noisy. Vibration limits for the VXM-4 are given in Troubleshooting: Vibration.
"""
    return "vxm-4-maintenance", t


def doc_ad7_setup() -> tuple[str, str]:
    rows = "\n".join(f"| {c} | {n} | {dflt} |" for c, n, dflt, _ in AD7_PARAMS)
    notes = "\n".join(f"- **{c} {n}** (default {dflt}). {note}" for c, n, dflt, note in AD7_PARAMS)
    t = f"""# AquiDrive AD-7 Drive Setup and Parameters

The AquiDrive AD-7 is the variable-frequency drive that Aquilon Pumpworks supplies with Vortex pumps. It controls the pump speed, protects the pump and the motor, and reports faults as codes E01 to E25 (see AquiDrive AD-7 Fault Codes, parts 1 and 2). This manual explains the keypad, the parameters that must be set at commissioning, and how to restore the factory settings.

> **Warning:** The DC bus capacitors of the AD-7 stay charged after the supply is switched off. Follow Safety: Lockout/Tagout before you open the terminal cover.

## Keypad and control places

The keypad has RUN, STOP, MODE and four arrow keys. Press MODE to move between the status display, the parameter list and the fault log. A parameter is changed by selecting it with the arrow keys, pressing MODE to edit, setting the value and pressing MODE again to store it. Stored values survive a power loss.

The drive can be controlled from the keypad, from the terminals (start/stop and speed reference) or over Modbus RTU. The active control place is shown at the top of the display.

## Commissioning parameters

Set at least the following parameters before the first start. The motor data come from the motor nameplate; the protection limits come from the manual of the pump that the drive runs.

| Parameter | Name | Factory default |
|---|---|---|
{rows}

## Notes on the parameters

{notes}

## Sensors and inputs

Analogue input AI1 takes a 4-20 mA discharge pressure transmitter and AI2 a suction pressure transmitter. The PT100 bearing temperature sensor connects to the RTD input, and a vibration transmitter with a 4-20 mA output to AI3. The motor thermistor or thermal switch connects to the PTC terminals. Inputs that are not used must be disabled in the I/O menu, otherwise the drive reports a sensor fault.

## Restoring factory settings

With the drive stopped, set P99 to 1 and press MODE. The display shows "rES" for a few seconds and all parameters return to their factory defaults, including P01, which then has to be entered again. Write the settings into the commissioning report beforehand, so they can be re-entered quickly.
"""
    return "ad-7-drive-setup", t


def _fault_section(code, name, _kt, cause, fix, reset) -> str:
    reset_txt = ("The drive resets itself when the cause has cleared."
                 if reset == "auto" else "Reset with the STOP key or the reset input once the cause is removed.")
    return f"## {code} {name}\n\n{cause}\n\n**Remedy:** {fix}\n\n**Reset:** {reset_txt}\n"


def doc_ad7_faults(part: int) -> tuple[str, str]:
    faults = AD7_FAULTS[:12] if part == 1 else AD7_FAULTS[12:]
    first, last = faults[0][0], faults[-1][0]
    intro_extra = (
        "Codes E01 to E12 cover the drive itself, the supply, the motor and the dry-run protection. Codes "
        "E13 to E25 are in part 2."
        if part == 1 else
        "Codes E13 to E25 cover the pump-protection sensors, communication, the keypad, the parameter memory "
        "and the drive's cooling fan. Codes E01 to E12 are in part 1."
    )
    body = "\n".join(_fault_section(*f) for f in faults)
    t = f"""# AquiDrive AD-7 Fault Codes, Part {part}: {first} to {last}

When the AquiDrive AD-7 detects a fault, it stops the motor (or, for warnings, keeps running), shows the fault code on the display, switches the fault relay and stores the event with a time stamp in the fault log. {intro_extra}

Before resetting any fault, find and remove its cause. Resetting a protection trip repeatedly without finding the cause is the quickest way to turn a small problem into a damaged motor or pump. Where the remedy involves work on the pump or the motor, isolate the drive first as described in Safety: Lockout/Tagout.

{body}"""
    return f"ad-7-fault-codes-part-{part}", t


def doc_safety() -> tuple[str, str]:
    t = f"""# Safety: Lockout/Tagout for Vortex Pumps and AquiDrive Controllers

Every maintenance task on a Vortex pump starts with isolating it from all its energy sources: electrical supply, stored electrical energy in the AquiDrive AD-7, liquid pressure and heat. This manual describes the lockout/tagout (LOTO) procedure that Aquilon Pumpworks requires for all work covered by the Vortex manuals. Local regulations may add further steps; they never replace these.

## Energy sources on a pump installation

- **Electrical supply** to the drive or starter, and any separate supply to heaters, cooling fans or sensors.
- **Stored electrical energy** in the DC bus capacitors of the AquiDrive AD-7.
- **Hydraulic pressure** in the casing and the connected pipework.
- **Heat**: pumped liquid can be well above 100 °C on district-heating and boiler-feed duty.
- **Gravity and rotation**: a pump can turn backwards when a non-return valve leaks, and the motor can act as a generator.

## Lockout/tagout procedure

1. Inform the operators and everyone affected that the pump will be shut down and isolated.
2. Stop the pump with the normal stop command.
3. Switch off the main isolator of the drive and lock it in the OFF position with your personal padlock. Attach a tag with your name, the date and the reason.
4. Wait at least {AD7['cap_wait_min']} minutes after isolating the AquiDrive AD-7 before you open its terminal cover, so that the DC bus capacitors can discharge.
5. Measure the voltage between the DC+ and DC- terminals with a rated voltmeter. It must be below {AD7['dc_safe_v']} V before you touch anything inside the drive.
6. Close the suction and discharge isolating valves, and lock or chain them closed with a tag.
7. Open the drain and vent plugs and depressurise the casing to {SAFETY['pressure']}. Collect hazardous liquids safely.
8. Let the pump cool. Do not open the casing or loosen any bolt that holds pressure until the casing surface is below {SAFETY['casing_c']} °C.
9. Try to start the pump from its local control to prove that the isolation works, then return the control to the off position.

Every person working on the pump fits his or her own padlock. A lock may only be removed by the person who fitted it, when his or her work is finished.

## Lifting

The eyebolts on the motor are rated for the motor alone. Never lift a complete pump set by the motor eyebolts; use the lifting points described in the specification manual of the model. Never lift a VXS-80 submersible pump by its power cable; always use the lifting chain.

## Returning to service

Remove tools and materials, refit all guards, close the drains, open the valves slowly and vent the pump. Only then are the tags and locks removed, each by its owner, and the pump restarted.
"""
    return "safety-lockout-tagout", t


def doc_warranty() -> tuple[str, str]:
    w = WARRANTY
    t = f"""# Warranty Terms for Vortex Pumps and AquiDrive Controllers

Aquilon Pumpworks warrants that every Vortex pump and AquiDrive AD-7 drive is free from defects in material and workmanship. This document sets out the period of the warranty, what it covers, what it does not cover and how to make a claim. It forms part of the conditions of sale.

## Warranty period

The standard warranty runs for {w['months_commission']} months from the date of commissioning or {w['months_ship']} months from the date of shipment from our works, whichever ends first. Mechanical seals are covered for {w['seal_months']} months from commissioning, because their life depends strongly on the operating conditions.

The commissioning date is taken from the commissioning report on file with Aquilon. If no commissioning report has been returned, the warranty runs from the date of shipment.

## What is covered

Within the warranty period, Aquilon will repair or replace, at its choice, any part that fails because of a defect in material or workmanship. Replacement parts are supplied free of charge, and labour is covered when the work is done by Aquilon or an authorised service partner. Replaced parts are covered for the rest of the original warranty period.

## What is not covered

Wear rings, coupling elements, gaskets, O-rings and lubricating oil are consumables and are not covered by the warranty. The warranty is void for damage caused by:

- dry running, or running against a closed valve beyond the limits in the manuals;
- cavitation because the NPSH available in the installation is too low;
- operation outside the rated temperature, pressure or flow limits;
- use of non-genuine spare parts or repairs by unauthorised persons;
- incorrect installation, in particular pipe strain and misalignment;
- frost, flooding, lightning and other external causes.

## Making a claim

Report a defect within {w['claim_days']} days of discovering it, using the warranty claim form {w['claim_form']}. State the pump or drive serial number from the nameplate, the running hours, a description of the fault and, for drives, the fault log. Keep the failed parts for at least {w['retain_days']} days after the claim, so that Aquilon can inspect them; do not scrap them before the claim is closed.

## AquiCare extended warranty

With an AquiCare service contract, the warranty is extended to a total of {w['aquicare_months']} months from commissioning, provided that all maintenance is carried out by an authorised Aquilon service partner at the intervals in Service Intervals, using genuine parts. AquiCare can be added at any time during the standard warranty period.
"""
    return "warranty-terms", t


def doc_glossary() -> tuple[str, str]:
    t = """# Glossary of Pump Terms Used in the Vortex Manuals

This glossary explains the technical terms used throughout the Aquilon Pumpworks Vortex manuals. Terms are listed alphabetically. Where a term has a specific meaning for Vortex pumps, that meaning is given.

## Terms

**Back pull-out design.** A design of end-suction pump in which the complete rotating assembly (bearing bracket, shaft, seal and impeller) can be withdrawn from the casing without disconnecting the suction or discharge piping. All VX models are back pull-out pumps.

**Barrier fluid.** A clean liquid held between the two seals of a double mechanical seal at a pressure above the seal chamber pressure, so that any leakage goes into the pump rather than out of it. Used on the VX-450.

**BEP (best efficiency point).** The flow and head at which a pump reaches its highest efficiency. The rated flow and head in the Vortex specification manuals are given at the BEP.

**Cartridge seal.** A mechanical seal supplied pre-assembled on its own sleeve and gland, set at the factory and held by setting clips until it is fitted.

**Cavitation.** The formation and collapse of vapour bubbles in the pump when the pressure at the impeller eye falls below the vapour pressure of the liquid.

**Minimum continuous flow.** The lowest flow at which a pump may run continuously without overheating or excessive vibration.

**NPSHa (net positive suction head available).** The absolute pressure head at the pump suction, above the vapour pressure of the liquid, that the installation provides. It depends on the installation, not on the pump.

**NPSHr (net positive suction head required).** The NPSH the pump needs to operate without significant cavitation. It is a property of the pump and rises with flow.

**Shut-off head.** The head a pump develops at zero flow, that is, against a closed discharge valve.

**Soft foot.** A condition in which one foot of a machine does not sit flat on its base, so that tightening its bolt distorts the frame. It is measured as the lift of the foot when its bolt is loosened.

**Tell-tale hole.** A drain hole at the bottom of the bearing bracket, between the seal and the bearing housing. Liquid coming out of it means the mechanical seal is leaking.

**Velocity RMS.** The root-mean-square value of the vibration velocity, in mm/s, the quantity used for the vibration limits of Vortex pumps.

**VFD (variable-frequency drive).** An electronic drive that controls motor speed by changing the frequency of the supply. The AquiDrive AD-7 is a VFD.

**Wear ring.** A replaceable ring in the casing that forms a narrow gap with the impeller neck and limits leakage from the discharge side back to the suction side.
"""
    return "glossary", t


def doc_service_intervals() -> tuple[str, str]:
    i = INTERVALS
    t = f"""# Service Intervals for Vortex End-Suction Pumps

This schedule lists the routine checks and maintenance for Vortex end-suction pumps (VX-100, VX-150, VX-220, VX-300 and VX-450). Following it keeps the pumps reliable and is a condition of the AquiCare extended warranty. The submersible VXS-80 and the multistage VXM-4 have their own service instructions in their manuals, and oil change intervals for each VX model are in its Bearings and Lubrication manual.

Intervals are given in calendar time or operating hours, whichever comes first. Pumps on arduous duty (abrasive liquids, hot water above 100 °C, frequent starts) should be serviced more often.

## Daily checks

Walk past the pump and look and listen. Check for leaks at the seal, the tell-tale hole, the casing joint and the flanges, and for unusual noise. Read the suction and discharge pressure gauges and compare them with the commissioning readings.

## Weekly checks

Check the oil level in the sight glass of the bearing housing and top up if needed. Record the bearing housing temperatures.

## Monthly checks

Take vibration readings {i['vib']} at both bearing housings, in the horizontal, vertical and axial directions, and trend them. A steady upward trend is the earliest warning of a developing problem, long before the alarm level is reached.

## Every {i['align_months']} months

Check the shaft alignment every {i['align_months']} months, and whenever the pump or the pipework has been disturbed. At the same time, inspect the flexible coupling element for cracks, swelling or rubber dust under the coupling guard.

## Every {i['wear_months']} months

Every {i['wear_months']} months, measure the wear ring clearance (see the Impeller and Wear Ring Replacement manual of the model) and check the duty point against the commissioning readings. Check the foundation bolts for tightness and the grout for cracks.

## Major overhaul

Carry out a major overhaul every {i['overhaul_h']} operating hours or every {i['overhaul_years']} years, whichever comes first. The overhaul includes new bearings, a new mechanical seal, new gaskets, measuring or replacing the wear ring and impeller, and a full alignment check.

## Records

Keep a log for each pump with the date, running hours, readings and work done. The log is needed for AquiCare warranty claims and makes trends easy to see.
"""
    return "service-intervals", t


def doc_cavitation() -> tuple[str, str]:
    cv = CAVITATION
    rows = "\n".join(f"| {d['model']} | {g(d['npshr'])} m |" for d in END_SUCTION)
    t = f"""# Troubleshooting: Cavitation in Vortex Pumps

Cavitation occurs when the pressure at the impeller eye falls below the vapour pressure of the liquid. Vapour bubbles form and then collapse violently as they move into regions of higher pressure. The collapsing bubbles erode the impeller, cause noise and vibration, and reduce head and flow. This guide explains how to recognise cavitation, how to check whether an installation has enough suction pressure, and how to cure it.

## Symptoms

A cavitating pump sounds as if gravel is passing through it: a crackling, rattling noise from the casing near the suction flange. Typical further signs are a fluctuating discharge pressure, a head that is lower than expected, higher vibration and, on inspection, pitting on the suction side of the impeller vanes near the eye. On drives with a suction pressure transmitter, the AquiDrive AD-7 trips on E13 when the suction pressure falls below P23.

## Checking the NPSH margin

Compare the NPSH available (NPSHa) in the installation with the NPSH required (NPSHr) of the pump at the actual flow. Aquilon requires that NPSHa exceeds NPSHr by at least {g(cv['margin_m'])} m or is at least {g(cv['margin_factor'])} times NPSHr, whichever gives the larger margin. NPSHr rises with flow, so check at the highest flow the pump will ever run at, not only at the rated point.

| Model | NPSHr at rated flow |
|---|---|
{rows}

NPSHa is the atmospheric (or tank) pressure head, plus the static head of liquid above the impeller eye (or minus the suction lift), minus the friction losses in the suction pipe, minus the vapour pressure head of the liquid at its temperature. Hot liquids have a high vapour pressure, so NPSHa falls sharply as the temperature rises.

## Causes and cures

- **Throttled suction.** Never throttle the pump with the suction valve; the suction isolating valve must always be fully open. Control the flow on the discharge side.
- **Blocked strainer.** Clean the suction strainer; fit a differential pressure gauge across it on dirty duties.
- **Suction pipe too small or too long.** Keep the velocity in the suction pipe at or below {g(cv['suction_vel'])} m/s. Use a larger pipe and fewer fittings.
- **Wrong reducer.** Use an eccentric reducer with the flat side up on the suction side, so that no air pocket forms.
- **Pump running too far right on its curve.** Throttle the discharge valve or reduce the speed with the AD-7 until the flow is back near the rated point.
- **Liquid too hot or tank level too low.** Raise the tank level or lower the pump relative to it.

## After cavitation damage

Inspect the impeller. Light pitting can be left, but pitting deeper than 2 mm or holes in the vanes mean the impeller must be replaced. Fix the cause first: a new impeller in the same installation will be damaged again.
"""
    return "troubleshooting-cavitation", t


def doc_vibration() -> tuple[str, str]:
    v = VIBRATION
    rows = "\n".join(f"| {d['model']} | {d['rpm']} rpm | {g(d['vib_a'])} mm/s | {g(d['vib_t'])} mm/s |" for d in END_SUCTION)
    rows += f"\n| {VXM4['model']} | {VXM4['rpm']} rpm | {g(VXM4['vib_a'])} mm/s | {g(VXM4['vib_t'])} mm/s |"
    t = f"""# Troubleshooting: Vibration in Vortex Pumps

Vibration is the best single indicator of the mechanical health of a pump. Rising vibration warns of imbalance, misalignment, bearing wear, cavitation and loose foundations, often weeks before a failure. This guide gives the vibration limits for each Vortex model, explains how to measure and how to find the cause of high readings.

## How to measure

Measure vibration velocity, RMS value in mm/s, over the frequency range 10 Hz to 1000 Hz, with the pump running at its normal duty point. On end-suction VX pumps, measure on both bearing housings in three directions: horizontal, vertical and axial. On the VXM-4, measure on the motor stool just below the motor flange. Always measure at the same marked points so that readings can be trended.

## Vibration limits

On a new or overhauled pump, the vibration should be below {g(v['accept'])} mm/s at every measuring point; this is the acceptance value for commissioning. In service the following limits apply:

| Model | Speed | Alarm | Trip (shut down) |
|---|---|---|---|
{rows}

At the alarm level, plan an investigation and shorten the measuring interval. At the trip level, stop the pump and do not restart it until the cause has been found and corrected. If the AquiDrive AD-7 has a vibration transmitter, set P29 to the trip value of the model; the drive then stops the pump with fault E18.

## Finding the cause

Look at the frequency content of the vibration as well as its level:

- **1× running speed, mainly radial:** imbalance. Check the impeller for clogging, erosion or damage and the coupling for missing balancing weights.
- **2× running speed, high axial readings:** misalignment. Check the alignment and soft foot as described in the Installation and Shaft Alignment manual of the model.
- **High frequencies and a rising noise floor:** bearing damage. Check the bearing temperature and the oil, and replace the bearings.
- **Broadband noise at the suction side, crackling sound:** cavitation. See Troubleshooting: Cavitation.
- **Vane-pass frequency (running speed × number of vanes):** the pump is running far from its BEP, or the impeller is too close to the volute tongue.
- **Readings that change with the foundation bolts tightened or loosened:** loose foundation or grout voids.

## After correction

Measure again at all points after the repair and record the readings as the new baseline for trending.
"""
    return "troubleshooting-vibration", t


def doc_overheating_leaks() -> tuple[str, str]:
    t = """# Troubleshooting: Overheating and Leaks

This guide helps to find the cause when a Vortex pump runs hot or leaks. Hot bearings and leaks are often related: a leaking seal can wash oil out of the bearing housing, and a hot pump can ruin its seal. Always isolate the pump as described in Safety: Lockout/Tagout before you work on it.

## Hot bearing housing

Compare the bearing housing temperature with the limit in the Bearings and Lubrication manual of the model. If it is too high, check in this order:

1. **Oil level.** With the pump stopped, the oil level must be at the centre of the sight glass. Too little oil starves the bearings.
2. **Too much oil.** Overfilling is just as harmful: the bearings churn the oil, which heats up and foams. Drain down to the centre of the sight glass.
3. **Oil condition.** Milky oil contains water; dark or burnt-smelling oil has been overheated. Change it and find out why.
4. **Alignment and coupling.** Misalignment loads the bearings and heats them. Check as described in the Installation and Shaft Alignment manual of the model.
5. **Duty point.** A pump running far from its BEP has higher bearing loads.
6. **Bearing damage.** If all the above are correct and the temperature keeps rising, replace the bearings.

## Hot pump casing

A casing that is much hotter than the pumped liquid means the pump is running with little or no flow. Check that the discharge valve is open, that the non-return valve is not stuck and that the flow is above the minimum continuous flow of the model. A casing that runs hot with no flow can boil its contents within minutes; stop it at once.

## Hot motor

Check the motor current against the nameplate, the cooling fan and cowl for dirt, and the supply voltage for unbalance. When the pump runs from an AquiDrive AD-7, check for fault E09 (overload) and E10 (thermistor) in the fault log.

## Leaks at the seal

Liquid from the tell-tale hole at the bottom of the bearing bracket means the mechanical seal is leaking. A new seal may weep during its run-in period; after that, a steady drip means the seal must be replaced. Do not let it continue, because the leaking liquid gets into the bearing housing. See the Mechanical Seal Replacement manual of the model.

## Leaks at the casing joint and flanges

A leak at the casing joint usually means the casing bolts have relaxed. Isolate and depressurise the pump, then retighten the casing bolts in a cross pattern to the torque in the Impeller and Wear Ring Replacement manual of the model. If the leak continues, replace the casing gasket from the gasket set. Leaks at the pipe flanges are often caused by pipe strain: correct the pipe supports rather than just tightening the flange bolts further.

## Oil leaks

Oil at the coupling end or the impeller end of the bearing bracket comes from worn lip seals. Replace them with the bearing kit of the model.
"""
    return "troubleshooting-overheating-leaks", t


def doc_storage() -> tuple[str, str]:
    s = STORAGE
    t = f"""# Storage, Preservation and Winterization

Pumps often wait for weeks or months between delivery and commissioning, or stand idle over a winter. Stored badly, they can arrive at commissioning with corroded bearings, stuck seals or a casing cracked by frost. This manual explains how to store Vortex pumps and how to protect idle pumps against frost.

## Short-term storage

Store pumps indoors in a dry, clean and vibration-free place, in their original packing and with the flange covers fitted. The storage temperature must stay between {s['tmin']} °C and +{s['tmax']} °C. Pumps stored outdoors must be raised off the ground and covered with a tarpaulin that lets air circulate underneath.

## Long-term storage

If a pump is stored for more than {s['long_months']} months, the following preservation is required in addition:

1. Fill the bearing housing completely with the specified oil, up to the filler plug, so that the bearings and the housing are fully covered. Label the pump "FILLED WITH OIL FOR STORAGE".
2. Spray the inside of the casing and the flange faces with a water-displacing preservative.
3. Turn the shaft by hand {s['turns']} full turns every {s['rotate_weeks']} weeks, so that the bearing rollers and the seal faces do not rest in the same position and the lubricant is spread. Record the date on the pump.
4. Store the AquiDrive AD-7 in its packing in a heated room. Electrolytic capacitors age when a drive is stored unpowered for a long time; a drive stored for more than a year must have its capacitors re-formed before use.

Before commissioning a pump from long-term storage, drain the oil down to the normal level, or change it completely if it is older than a year, and turn the shaft by hand to check that it turns freely.

## Winterization of idle pumps

A pump full of water that stands idle in frost will crack its casing. Protect idle pumps in unheated locations as follows:

1. Isolate the pump as described in Safety: Lockout/Tagout.
2. Open the drain plug at the bottom of the casing and the priming plug at the top and let the pump drain completely. Drain the pipework up to the isolating valves as well.
3. Blow out remaining water with compressed air at no more than {s['air_bar']} bar, so that the seal is not damaged.
4. Leave the drain plug out and tie it to the pump with a tag, so that nobody starts the pump without refitting it.
5. Where the pump cannot be drained, fill it with a {s['glycol_pct']}% solution of propylene glycol in water instead.

Submersible VXS-80 pumps in pits that may freeze should be lifted out on their chain and stored indoors, standing upright.

## Returning to service

Refit the drain plug, fill and vent the pump, turn the shaft by hand and follow Priming and Commissioning for the restart.
"""
    return "storage-and-winterization", t


def doc_priming() -> tuple[str, str]:
    p = PRIMING
    t = f"""# Priming and Commissioning of Vortex End-Suction Pumps

This manual describes the first start of a newly installed or overhauled Vortex end-suction pump (VX-100 to VX-450), from filling the pump to the commissioning report. The VXM-4 multistage pump and the VXS-80 submersible pump have their own commissioning instructions in their installation manuals.

Before you begin, the installation and alignment must be complete, the bearing housing must be filled with oil to the correct level, and the coupling guard must be in place.

## Priming

Vortex end-suction pumps are not self-priming. The casing and the suction pipe must be completely full of liquid before the pump is started; a pump that runs dry will destroy its mechanical seal within seconds.

1. Open the suction isolating valve fully. It stays fully open whenever the pump runs.
2. With a flooded suction, open the priming plug on top of the casing and let liquid flow in until it comes out of the plug opening free of air bubbles. Then refit the plug.
3. With a suction lift, fill the casing and the suction pipe through the priming plug opening, with a foot valve holding the liquid in the suction pipe, or use a vacuum priming system.
4. Turn the shaft by hand to release trapped air from the impeller, and top up again.

## Checking the direction of rotation

The direction of rotation is shown by an arrow on the casing. Check it with the pump filled, never dry: jog the motor for no longer than {p['jog_s']} seconds and watch the coupling as the pump slows down. If it turns the wrong way, isolate and swap two motor phases, or change the direction parameter of the AquiDrive AD-7.

## First start

1. Close the discharge valve, or leave it just cracked open.
2. Start the pump and check that the discharge pressure rises to about the shut-off head.
3. Open the discharge valve slowly within {p['open_s']} seconds of starting. Do not run the pump longer than that against a closed valve.
4. Set the duty point with the discharge valve or the drive speed, never with the suction valve.
5. Check the seal, the flanges and the casing joint for leaks.

## Commissioning readings and report

Let the pump run at its duty point for {p['readings_h']} hours, then record the commissioning readings: suction and discharge pressure, flow, motor current, bearing housing temperatures and vibration at both bearing housings. Enter them, together with the alignment readings and the AD-7 parameter settings, on commissioning report form {p['report']}.

Return the completed commissioning report to Aquilon within {p['report_days']} days of commissioning. It registers the pump for warranty and is the baseline for all later measurements.
"""
    return "priming-and-commissioning", t


def doc_parts() -> tuple[str, str]:
    pr = PARTS
    rows = "\n".join(f"| {d['model']} | {d['gsk']} | {d['cpl']} |" for d in END_SUCTION)
    rows += f"\n| {VXS80['model']} | {VXS80['gsk']} | none (close-coupled) |"
    rows += f"\n| {VXM4['model']} | {VXM4['gsk']} | none (rigid coupling) |"
    t = f"""# Spare Parts and Ordering

Genuine Aquilon spare parts are made to the original drawings and tolerances, and their use is a condition of the warranty. This guide explains how Aquilon part numbers are built, lists the gasket sets and coupling elements for each model and describes how to order and return parts.

## Part numbering

Aquilon part numbers start with AQ-, followed by the part family and the model, and sometimes a variant. For example, AQ-SEAL-220-M is the mechanical seal (SEAL) for the VX-220 in its cartridge version (M); AQ-IMP is an impeller, AQ-WR a wear ring, AQ-BRG a bearing kit, AQ-GSK a gasket set and AQ-CPL a coupling element. Seal kits, impellers, wear rings and bearing kits are listed in the manuals of each model.

## Gasket sets and coupling elements

Each gasket set contains the casing gasket, the seal-plate gasket and all O-rings needed for a complete overhaul. The coupling element is the flexible insert of the spacer coupling; replace it when it shows cracks or swelling.

| Model | Gasket set | Coupling element |
|---|---|---|
{rows}

## Ordering

Always quote the pump serial number from the nameplate together with the part number. The serial number identifies the build, including trimmed impellers and special materials, and lets our parts desk check that the part fits.

Stocked parts are dispatched within {pr['lead_days']} working days of order. For breakdowns, the express service dispatches stocked parts within {pr['express_h']} hours of order, at an additional charge. Orders can be placed with the Aquilon parts desk or with an authorised service partner.

## Recommended spares

For each critical pump, keep one mechanical seal kit, one bearing kit, one gasket set and one coupling element on site. For pumps on abrasive duty, add a wear ring and an impeller.

## Returns

Unused parts in their original, unopened packaging can be returned within {pr['return_days']} days of delivery for a full credit. Parts returned under warranty are handled as described in Warranty Terms.
"""
    return "spare-parts-and-ordering", t


def build_docs() -> dict[str, str]:
    docs: dict[str, str] = {}
    renderers = []
    for d in END_SUCTION:
        for fn in (doc_es_specifications, doc_es_installation, doc_es_seal, doc_es_impeller, doc_es_bearings):
            renderers.append((fn, (d,)))
    for fn in (doc_vxs80_specifications, doc_vxs80_installation, doc_vxs80_service,
               doc_vxm4_specifications, doc_vxm4_installation, doc_vxm4_maintenance,
               doc_ad7_setup):
        renderers.append((fn, ()))
    renderers.append((doc_ad7_faults, (1,)))
    renderers.append((doc_ad7_faults, (2,)))
    for fn in (doc_safety, doc_warranty, doc_glossary, doc_service_intervals, doc_cavitation,
               doc_vibration, doc_overheating_leaks, doc_storage, doc_priming, doc_parts):
        renderers.append((fn, ()))
    for fn, args in renderers:
        doc_id, text = fn(*args)
        assert doc_id not in docs, doc_id
        docs[doc_id] = text.rstrip("\n") + "\n"
    return docs


# ---------------------------------------------------------------------------
# Facts: every Q&A row is generated from one of these
# ---------------------------------------------------------------------------
# A fact has: key, docs (gold doc_ids), answer, kt (key terms), train (question
# phrasings used in train.jsonl), held (different phrasings reserved for
# heldout.jsonl; empty = never held out), group (facts of one group can be
# chained into a two-turn conversation) and label (used in follow-up turns).

ES_DOC = {
    "spec": "{slug}-specifications",
    "inst": "{slug}-installation-alignment",
    "seal": "{slug}-seal-replacement",
    "imp": "{slug}-impeller-replacement",
    "brg": "{slug}-bearings-lubrication",
}

ES_FIELDS = [
    # ---- specifications
    dict(key="flow", docs=["spec"], label="rated flow",
         a="The {m} delivers a rated flow of {flow} m³/h at its best efficiency point.",
         kt=["{flow} m³/h"],
         train=["What is the rated flow of the {m}?",
                "How much flow does a {m} give at its rated duty point?",
                "{m} rated capacity in m³/h?"],
         held=["At its best efficiency point, what flow rate is the {m} designed for?",
               "How many cubic metres per hour is a {m} pump rated to move?"]),
    dict(key="head", docs=["spec"], label="rated head",
         a="The rated head of the {m} is {head} m at its best efficiency point.",
         kt=["{head} m"],
         train=["What's the rated head of the {m}?",
                "How much head does the {m} develop at its duty point?",
                "{m} duty head?"],
         held=["What total head is the {m} rated to produce?",
               "To what head in metres is a {m} rated at its design flow?"]),
    dict(key="motor", docs=["spec"], label="motor power",
         a="The {m} is supplied with a {kw} kW motor.",
         kt=["{kw} kW"],
         train=["What motor power does the {m} use?",
                "How big is the motor on a {m}?",
                "{m} motor rating in kW?"],
         held=["What is the rated motor output, in kilowatts, of the {m}?",
               "Which motor size comes as standard with the {m} pump?"]),
    dict(key="speed", docs=["spec"], label="rated speed",
         a="The {m} runs at a rated speed of {rpm} rpm ({poles}-pole motor on a 50 Hz supply).",
         kt=["{rpm} rpm"],
         train=["What speed does the {m} run at?",
                "Rated rpm of the {m}?",
                "How fast does the {m} shaft turn?"],
         held=["What is the nominal rotational speed of the {m}?",
               "At how many revolutions per minute does a {m} operate?"]),
    dict(key="impeller_max", docs=["spec"], label="full impeller diameter",
         a="The full-diameter impeller of the {m} measures {imp} mm.",
         kt=["{imp} mm"],
         train=["What is the impeller diameter of the {m}?",
                "How large is the full-size impeller in a {m}?",
                "Max impeller size for the {m}?"],
         held=["What diameter is the standard, untrimmed impeller on the {m}?",
               "Tell me the maximum impeller diameter fitted to a {m}."]),
    dict(key="impeller_min", docs=["spec"], label="minimum impeller trim",
         a="The {m} impeller may be trimmed down to {imp_min} mm, but never below that.",
         kt=["{imp_min} mm"],
         train=["How far can the {m} impeller be trimmed?",
                "What's the minimum trim diameter for the {m} impeller?",
                "Smallest allowed impeller diameter on the {m}?"],
         held=["What is the smallest diameter the {m} impeller may be cut down to?",
               "Down to what diameter is impeller trimming permitted on a {m}?"]),
    dict(key="npshr", docs=["spec", "troubleshooting-cavitation"], label="NPSH required",
         a="The {m} requires an NPSH of {npshr} m at rated flow (NPSHr).",
         kt=["{npshr} m"],
         train=["What is the NPSH required for the {m}?",
                "NPSHr of the {m} at rated flow?",
                "How much NPSH does a {m} need?"],
         held=["How many metres of net positive suction head does the {m} require at its rated point?",
               "What NPSHr figure is quoted for the {m}?"]),
    dict(key="max_temp", docs=["spec"], label="maximum liquid temperature",
         a="The maximum permitted liquid temperature for the {m} is {tmax} °C.",
         kt=["{tmax} °C"],
         train=["What is the maximum liquid temperature for the {m}?",
                "How hot can the pumped fluid be in a {m}?",
                "{m} max fluid temp?"],
         held=["What is the highest temperature of pumped liquid the {m} is rated for?",
               "Up to what fluid temperature can a {m} be operated?"]),
    dict(key="max_pressure", docs=["spec"], label="maximum working pressure",
         a="The {m} casing is rated for a maximum working pressure of {pmax} bar (suction pressure plus shut-off head).",
         kt=["{pmax} bar"],
         train=["What's the maximum working pressure of the {m} casing?",
                "Pressure rating of the {m}?",
                "How many bar can the {m} casing take?"],
         held=["What is the maximum allowable casing pressure for a {m}?",
               "To what working pressure in bar is the {m} pump casing rated?"]),
    dict(key="weight", docs=["spec"], label="unit weight",
         a="A complete {m} unit (pump, motor and baseplate) weighs about {weight} kg.",
         kt=["{weight} kg"],
         train=["How much does the {m} weigh?",
                "What is the weight of a complete {m} unit?",
                "{m} weight with motor and baseplate?"],
         held=["What is the total mass of a {m} pump set including motor and baseplate?",
               "How heavy is a {m} unit, so I can plan the lift?"]),
    dict(key="flanges", docs=["spec"], label="flange sizes",
         a="The {m} has a DN{dn_s} suction flange and a DN{dn_d} discharge flange, drilled to PN16.",
         kt=["DN{dn_s}", "DN{dn_d}"],
         train=["What are the flange sizes on the {m}?",
                "What size are the suction and discharge connections of the {m}?",
                "{m} nozzle sizes?"],
         held=["Which DN sizes are the inlet and outlet flanges of a {m}?",
               "What nominal diameters do the {m} suction and discharge branches have?"]),
    dict(key="min_flow", docs=["spec"], label="minimum continuous flow",
         a="The minimum continuous flow of the {m} is {qmin} m³/h; running below it makes the pump recirculate and heat up.",
         kt=["{qmin} m³/h"],
         train=["What is the minimum continuous flow of the {m}?",
                "How low can I throttle the {m} flow?",
                "Minimum flow for the {m}?"],
         held=["Below what flow rate must a {m} not be run continuously?",
               "What's the lowest continuous flow the {m} is allowed to operate at?"]),
    dict(key="casing_material", docs=["spec"], label="casing material",
         a="The {m} casing is made of {casing_mat}.",
         kt=["{casing_key}"],
         train=["What material is the {m} casing?",
                "What is the {m} pump casing made from?"],
         held=["Which casing material does Aquilon use for the {m}?"]),
    # ---- installation and alignment
    dict(key="anchor_torque", docs=["inst"], label="anchor bolt torque",
         a="Tighten the {m} foundation (anchor) bolts, {anchor}, to {foot} N·m once the grout has cured.",
         kt=["{foot} N·m"],
         train=["What torque for the {m} anchor bolts?",
                "How tight should the {m} foundation bolts be?",
                "Foundation bolt torque for a {m} baseplate?"],
         held=["To what torque are the baseplate holding-down bolts of a {m} tightened?",
               "What tightening torque does Aquilon specify for the {m} foundation anchor bolts?"]),
    dict(key="align_parallel", docs=["inst"], label="parallel alignment tolerance",
         a="Parallel (offset) misalignment on the {m} must not exceed {par} mm.",
         kt=["{par} mm"],
         train=["What is the parallel alignment tolerance for the {m}?",
                "Max shaft offset allowed on the {m} coupling?",
                "How close must the {m} parallel alignment be?"],
         held=["What is the permitted radial offset between pump and motor shafts on a {m}?",
               "How much parallel misalignment is acceptable when aligning a {m}?"]),
    dict(key="align_angular", docs=["inst"], label="angular alignment tolerance",
         a="Angular misalignment on the {m} must be within {ang} mm per 100 mm of coupling diameter.",
         kt=["{ang} mm"],
         train=["What's the angular alignment tolerance for a {m}?",
                "Angular misalignment limit on the {m}?",
                "How much angularity is allowed on the {m} coupling?"],
         held=["What angular misalignment, per 100 mm of coupling diameter, is permitted on the {m}?",
               "When aligning a {m}, what is the maximum allowable angular error?"]),
    dict(key="coupling_gap", docs=["inst"], label="coupling gap",
         a="The distance between the coupling hubs (coupling gap) on the {m} is {gap} mm.",
         kt=["{gap} mm"],
         train=["What coupling gap does the {m} need?",
                "Distance between coupling hubs on a {m}?",
                "How wide is the {m} coupling gap?"],
         held=["What axial spacing between the coupling hubs is specified for the {m}?",
               "How far apart should the pump and motor coupling hubs sit on a {m}?"]),
    dict(key="soft_foot", docs=["inst"], label="soft foot limit",
         a="Soft foot on the {m} must be shimmed out to {soft} mm or less at each motor foot before aligning.",
         kt=["{soft} mm"],
         train=["What's the soft foot limit on the {m}?",
                "How much soft foot is acceptable for a {m}?"],
         held=["What is the maximum permissible soft-foot reading at any motor foot of a {m}?"]),
    dict(key="straight_pipe", docs=["inst"], label="straight suction pipe length",
         a="Provide a straight run of at least {straight} pipe diameters directly upstream of the {m} suction flange.",
         kt=["{straight} pipe diameters"],
         train=["How much straight pipe does the {m} need before the suction flange?",
                "Minimum straight suction run for a {m}?",
                "How many pipe diameters of straight pipe go ahead of the {m} suction?"],
         held=[]),
    # ---- seal
    dict(key="seal_kit", docs=["seal"], label="seal kit part number",
         a="The replacement mechanical seal kit for the {m} is part number {seal_kit}.",
         kt=["{seal_kit}"],
         train=["What is the part number of the {m} seal kit?",
                "Which seal kit do I order for a {m}?",
                "{m} mechanical seal part number?"],
         held=["Which Aquilon part number covers the mechanical seal replacement kit for the {m}?",
               "I need a new shaft seal for a {m}; what part do I order?"]),
    dict(key="gland_torque", docs=["seal"], label="seal gland bolt torque",
         a="Tighten the {m} seal gland (seal plate) bolts evenly in a cross pattern to {gland} N·m.",
         kt=["{gland} N·m"],
         train=["What torque for the {m} seal gland bolts?",
                "How tight do the {m} seal plate bolts go?",
                "Gland bolt torque on the {m}?"],
         held=["To what torque should the mechanical seal gland bolts on a {m} be tightened?",
               "What is the specified seal plate bolt torque for the {m}?"]),
    dict(key="seal_runin", docs=["seal"], label="seal run-in period",
         a="Allow a run-in period of {runin} h after fitting a new seal on the {m}; after {runin} h there should be no visible leakage.",
         kt=["{runin} h"],
         train=["How long is the seal run-in on a {m}?",
                "After fitting a new {m} seal, how long may it weep?",
                "Run-in time for a new {m} mechanical seal?"],
         held=["How many hours of running-in does a freshly fitted {m} mechanical seal need before it should be leak-free?",
               "What run-in period applies to a new seal on the {m}?"]),
    dict(key="seal_faces", docs=["seal"], label="seal face material",
         a="The {m} seal faces are {faces}, with {elast} elastomers.",
         kt=["{faces_key}"],
         train=["What are the {m} seal faces made of?",
                "Seal face material on the {m}?"],
         held=["Which face materials does the standard {m} mechanical seal use?"]),
    dict(key="seal_setting", docs=["seal"], label="seal setting",
         a="{seal_setting_answer}",
         kt=["{seal_setting_key}"],
         train=["How do I set the new seal on a {m}?",
                "What is the seal setting procedure for the {m}?"],
         held=["When installing a replacement mechanical seal in the {m}, how is it positioned or set?"]),
    # ---- impeller and wear ring
    dict(key="impeller_part", docs=["imp"], label="impeller part number",
         a="The full-diameter impeller for the {m} is part number {imp_part}; trimmed impellers add the suffix -T and the diameter.",
         kt=["{imp_part}"],
         train=["What is the part number of the {m} impeller?",
                "Which impeller part do I order for a {m}?",
                "{m} impeller P/N?"],
         held=["Under which part number is the standard {m} impeller supplied?",
               "What spare-part number should I quote for a replacement full-diameter {m} impeller?"]),
    dict(key="impeller_nut", docs=["imp"], label="impeller nut torque",
         a="Tighten the {m} impeller nut to {imp_nut} N·m while holding the shaft with the locking tool.",
         kt=["{imp_nut} N·m"],
         train=["What is the impeller nut torque on the {m}?",
                "How tight does the {m} impeller nut go?",
                "{m} impeller nut torque?"],
         held=["To what torque must the impeller retaining nut of a {m} be tightened?",
               "What torque value applies to the {m} impeller nut during reassembly?"]),
    dict(key="casing_torque", docs=["imp"], label="casing bolt torque",
         a="Tighten the {m} casing bolts ({casing_bolt}) in a cross pattern in two stages, to a final torque of {casing} N·m.",
         kt=["{casing} N·m"],
         train=["What torque do the {m} casing bolts need?",
                "How tight should I do up the casing bolts on a {m}?",
                "{m} casing bolt torque?"],
         held=["What is the final tightening torque for the casing bolts of a {m}?",
               "When refitting the back pull-out assembly of a {m}, to what torque are the casing bolts tightened?"]),
    dict(key="wear_new", docs=["imp"], label="new wear ring clearance",
         a="The diametral clearance between the {m} impeller neck and the wear ring is {wr_new} mm when new.",
         kt=["{wr_new} mm"],
         train=["What is the new wear ring clearance on the {m}?",
                "Design clearance between impeller and wear ring on a {m}?",
                "{m} wear ring clearance when new?"],
         held=["What diametral clearance should a new {m} impeller have in its wear ring?",
               "As-new impeller-to-wear-ring gap for the {m}?"]),
    dict(key="wear_max", docs=["imp"], label="wear ring replacement limit",
         a="Replace the {m} wear ring when the diametral clearance reaches {wr_max} mm, twice the new value.",
         kt=["{wr_max} mm"],
         train=["When should the {m} wear ring be replaced?",
                "At what clearance do I change the wear ring on a {m}?",
                "{m} wear ring replacement limit?"],
         held=["What maximum wear ring clearance is allowed on the {m} before the ring has to be renewed?",
               "At which diametral clearance is the {m} casing wear ring worn out?"]),
    dict(key="wear_ring_part", docs=["imp"], label="wear ring part number",
         a="The casing wear ring for the {m} is part number {wr_part}.",
         kt=["{wr_part}"],
         train=["What is the part number of the {m} wear ring?",
                "Which wear ring do I order for a {m}?"],
         held=["Which Aquilon part number is the casing wear ring of the {m}?"]),
    # ---- bearings and lubrication
    dict(key="bearing_ie", docs=["brg"], label="impeller-end bearing",
         a="The impeller-end bearing of the {m} is a {brg_ie}.",
         kt=["{brg_ie_key}"],
         train=["Which bearing is at the impeller end of the {m}?",
                "What is the impeller-end bearing number on a {m}?"],
         held=["What bearing designation is used on the impeller side of the {m} shaft?"]),
    dict(key="bearing_ce", docs=["brg"], label="coupling-end bearing",
         a="The coupling-end (thrust) bearing of the {m} is a {brg_ce}.",
         kt=["{brg_ce_key}"],
         train=["Which bearing is at the coupling end of the {m}?",
                "What is the thrust bearing on the {m}?"],
         held=["Which bearing takes the axial thrust at the coupling end of a {m}?"]),
    dict(key="bearing_kit", docs=["brg"], label="bearing kit part number",
         a="The {m} bearing kit is {brg_kit}; it contains both bearings, the two lip seals and the circlip.",
         kt=["{brg_kit}"],
         train=["What is the bearing kit part number for the {m}?",
                "Which bearing kit fits a {m}?",
                "{m} bearing kit P/N?"],
         held=["What part number do I order to get both replacement bearings for a {m}?",
               "Which Aquilon kit contains the bearings and lip seals for the {m}?"]),
    dict(key="oil_grade", docs=["brg"], label="oil grade",
         a="Use ISO VG {vg} mineral turbine oil with rust and oxidation inhibitors in the {m} bearing housing.",
         kt=["ISO VG {vg}"],
         train=["What oil goes in the {m} bearing housing?",
                "Which oil grade does the {m} use?",
                "{m} bearing oil viscosity grade?"],
         held=["What viscosity grade of oil is specified for the bearings of the {m}?",
               "Which lubricating oil should I buy for a {m} bearing bracket?"]),
    dict(key="oil_volume", docs=["brg"], label="oil volume",
         a="The {m} bearing housing holds {oil_l} L of oil.",
         kt=["{oil_l} L"],
         train=["How much oil does the {m} bearing housing take?",
                "Oil capacity of the {m} bearing bracket?",
                "How many litres of oil for a {m}?"],
         held=["What is the oil fill volume of the {m} bearing housing?",
               "How much oil do I need to refill the bearing bracket of a {m}?"]),
    dict(key="oil_interval", docs=["brg"], label="oil change interval",
         a="Change the {m} bearing oil every {oil_h} operating hours (first change after 200 h), and at least once a year.",
         kt=["{oil_h}"],
         train=["How often should the oil be changed on a {m}?",
                "What is the oil change interval for the {m}?",
                "{m} oil change hours?"],
         held=["After how many operating hours is the bearing oil of a {m} due for replacement?",
               "What is the routine lubrication interval, in hours, for the {m} bearing oil?"]),
    dict(key="bearing_temp", docs=["brg"], label="maximum bearing housing temperature",
         a="The {m} bearing housing temperature must not exceed {brg_t} °C; above that, stop the pump and find the cause.",
         kt=["{brg_t} °C"],
         train=["What is the maximum bearing temperature on the {m}?",
                "How hot can the {m} bearing housing get?",
                "{m} bearing temp limit?"],
         held=["What is the upper limit for the bearing housing temperature of a {m}?",
               "At what bearing housing temperature must a {m} be stopped?"]),
    dict(key="cover_torque", docs=["brg"], label="bearing cover screw torque",
         a="Tighten the {m} bearing housing end cover screws to {cover} N·m.",
         kt=["{cover} N·m"],
         train=["What torque for the {m} bearing cover screws?",
                "How tight are the bearing housing end covers on a {m}?"],
         held=["To what torque are the end cover screws of the {m} bearing housing tightened?"]),
    # ---- vibration (cross-cutting doc, per-model table)
    dict(key="vib_alarm", docs=["troubleshooting-vibration"], label="vibration alarm level",
         a="The vibration alarm level for the {m} is {vib_a} mm/s RMS, measured on the bearing housings.",
         kt=["{vib_a} mm/s"],
         train=["What is the vibration alarm level for the {m}?",
                "At what vibration does the {m} alarm?",
                "{m} vibration alarm in mm/s?"],
         held=["What RMS vibration velocity triggers an alarm on a {m}?",
               "At which vibration reading should I start investigating a {m}?"]),
    dict(key="vib_trip", docs=["troubleshooting-vibration"], label="vibration trip level",
         a="The {m} must be shut down when vibration reaches {vib_t} mm/s RMS; set AD-7 parameter P29 to this value.",
         kt=["{vib_t} mm/s"],
         train=["What is the vibration trip level for the {m}?",
                "At what vibration must the {m} be shut down?",
                "{m} vibration shutdown limit?"],
         held=["What vibration velocity requires a {m} to be stopped immediately?",
               "What trip value should P29 be set to for a {m}?"]),
    # ---- spare parts (cross-cutting doc, per-model table)
    dict(key="gasket_set", docs=["spare-parts-and-ordering"], label="gasket set part number",
         a="The gasket set for the {m} is {gsk}; it contains the casing gasket, the seal-plate gasket and all O-rings.",
         kt=["{gsk}"],
         train=["What is the gasket set part number for the {m}?",
                "Which gasket set fits a {m}?"],
         held=["Which part number covers the casing gasket and O-ring set of the {m}?"]),
    dict(key="coupling_element", docs=["spare-parts-and-ordering"], label="coupling element part number",
         a="The {m} uses flexible coupling element {cpl}.",
         kt=["{cpl}"],
         train=["What coupling element does the {m} use?",
                "Part number of the {m} coupling insert?"],
         held=["Which flexible coupling element part number fits the spacer coupling of a {m}?"]),
]

ES_FOLLOWUPS = [
    "And what about the {label}?",
    "Thanks. And the {label}?",
    "OK, and what is the {label} for that same pump?",
    "What's the {label} on the same model?",
]


def F(key, docs, a, kt, train, held=(), group=None, label=None):
    return {"key": key, "docs": list(docs), "a": a, "kt": list(kt), "train": list(train),
            "held": list(held), "group": group, "label": label}


def es_facts() -> list[dict]:
    facts = []
    for d in END_SUCTION:
        c = es_ctx(d)
        c["seal_setting_answer"], c["seal_setting_key"] = seal_setting_answer(d)
        for f in ES_FIELDS:
            docs = [ES_DOC[x].format(slug=d["slug"]) if x in ES_DOC else x for x in f["docs"]]
            facts.append(F(
                f"{d['slug']}:{f['key']}", docs, f["a"].format(**c),
                [k.format(**c) for k in f["kt"]],
                [q.format(**c) for q in f["train"]],
                [q.format(**c) for q in f["held"]],
                group=d["slug"], label=f["label"]))
        if "barrier_bar" in d:
            b = g(d["barrier_bar"])
            facts.append(F(
                f"{d['slug']}:barrier", [f"{d['slug']}-seal-replacement"],
                f"Keep the {d['model']} barrier fluid at {b} bar above the seal-chamber pressure; if it drops, the inboard seal faces can open.",
                [f"{b} bar"],
                [f"What barrier pressure does the {d['model']} double seal need?",
                 f"How high should the barrier fluid pressure be on a {d['model']}?",
                 f"{d['model']} barrier pot pressure setting?"],
                [f"By how much must the {d['model']} barrier fluid pressure exceed the seal chamber pressure?"],
                group=d["slug"], label="barrier fluid pressure"))
    return facts


def vxs_facts() -> list[dict]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXS80.items()}
    sp, ins, sv = "vxs-80-specifications", "vxs-80-installation", "vxs-80-service"
    G = "vxs-80"
    return [
        F("vxs:flow", [sp], f"The VXS-80 delivers {s['flow']} m³/h at its best efficiency point.", [f"{s['flow']} m³/h"],
          ["What is the rated flow of the VXS-80?", "How much does the VXS-80 submersible pump deliver?", "VXS-80 capacity?"],
          ["What flow rate is the VXS-80 submersible rated for at its best efficiency point?"], G, "rated flow"),
        F("vxs:head", [sp], f"The VXS-80 is rated for a total head of {s['head']} m.", [f"{s['head']} m"],
          ["What head does the VXS-80 give?", "Rated head of the VXS-80?"],
          ["To what total head in metres is the VXS-80 sewage pump rated?"], G, "rated head"),
        F("vxs:motor", [sp], f"The VXS-80 has a {s['kw']} kW four-pole motor running at {s['rpm']} rpm.", [f"{s['kw']} kW"],
          ["What size motor does the VXS-80 have?", "VXS-80 motor power?"],
          ["How many kilowatts is the motor of a VXS-80 submersible pump?"], G, "motor power"),
        F("vxs:solids", [sp], f"The VXS-80 two-channel impeller has a free solids passage of {s['solids']} mm.", [f"{s['solids']} mm"],
          ["What size solids can the VXS-80 pass?", "Free passage of the VXS-80 impeller?", "VXS-80 solids handling size?"],
          ["What is the largest solid, in millimetres, that can pass through a VXS-80?", "How big is the free solids passage of the VXS-80 impeller?"], G, "solids passage"),
        F("vxs:depth", [sp], f"The VXS-80 may be submerged to a maximum depth of {s['depth']} m.", [f"{s['depth']} m"],
          ["How deep can the VXS-80 be submerged?", "Maximum immersion depth of the VXS-80?"],
          ["What is the deepest a VXS-80 may be installed below the liquid surface?"], G, "maximum immersion depth"),
        F("vxs:tmax", [sp], f"The maximum liquid temperature for the VXS-80 is {s['tmax']} °C.", [f"{s['tmax']} °C"],
          ["What is the maximum liquid temperature for the VXS-80?", "How hot can the water be for a VXS-80?"],
          ["Up to what temperature of pumped liquid can the VXS-80 submersible be used?"], G, "maximum liquid temperature"),
        F("vxs:weight", [sp], f"The VXS-80 weighs {s['weight']} kg including {s['cable_m']} m of cable.", [f"{s['weight']} kg"],
          ["How much does the VXS-80 weigh?", "VXS-80 weight with cable?"],
          ["What is the mass of a VXS-80 submersible pump with its standard cable?"], G, "weight"),
        F("vxs:cable", [sp], f"The VXS-80 comes with {s['cable_m']} m of {s['cable']} cable; longer cables are available in 5 m steps.", [f"{s['cable_m']} m"],
          ["How long is the VXS-80 cable?", "What cable is supplied with the VXS-80?"],
          ["What length of power cable is fitted to a standard VXS-80?"], G, "cable length"),
        F("vxs:floats", [ins], f"Set the VXS-80 start level at {s['float_start']} mm and the stop level at {s['float_stop']} mm above the pit floor.",
          [f"{s['float_start']} mm", f"{s['float_stop']} mm"],
          ["What start and stop levels should the VXS-80 floats be set to?", "Where do I set the float switches for a VXS-80?", "VXS-80 start/stop levels?"],
          ["At what heights above the pit floor should a VXS-80 start and stop?", "How high above the floor do the VXS-80 start and stop floats go?"], G, "start and stop levels"),
        F("vxs:alarm_level", [ins], f"The high-level alarm for a VXS-80 pit is set at {s['float_alarm']} mm above the pit floor.", [f"{s['float_alarm']} mm"],
          ["Where is the high-level alarm set for a VXS-80?", "VXS-80 high level alarm height?"],
          ["At what height above the pit floor does the VXS-80 high-level alarm float go?"], G, "high-level alarm height"),
        F("vxs:starts", [ins], f"The VXS-80 may start at most {s['starts_h']} times per hour; set P33 to {s['starts_h']} on the AD-7.", [f"{s['starts_h']}"],
          ["How many starts per hour is the VXS-80 allowed?", "Max starts per hour for the VXS-80?"],
          ["What is the maximum number of starts per hour permitted for a VXS-80?"], G, "maximum starts per hour"),
        F("vxs:guide_rail", [ins], f"The standard VXS-80 guide-rail kit is {s['guide_rail']}.", [s["guide_rail"]],
          ["Which guide-rail kit is used for the VXS-80?", "VXS-80 guide rail part number?"],
          ["What part number is the guide-rail system for installing a VXS-80 in a wet well?"], G, "guide-rail kit"),
        F("vxs:chain", [ins], f"Use lifting chain {s['chain']}: {s['chain_m']} m long, galvanised and rated for {s['chain_kg']} kg. Never lift the VXS-80 by its cable.",
          [s["chain"]],
          ["What lifting chain is used with the VXS-80?", "VXS-80 lifting chain part number?"],
          ["Which lifting chain part number does Aquilon supply for the VXS-80?"], G, "lifting chain"),
        F("vxs:rotation", [ins], "Start the VXS-80 briefly while it hangs on its chain: seen from above it must jerk anticlockwise, against the impeller rotation. If it jerks clockwise, swap two phases.",
          ["anticlockwise"],
          ["How do I check the rotation of a VXS-80?", "Which way should the VXS-80 kick when started?"],
          ["Which direction should a VXS-80 jerk on start-up when checking rotation?"], G, "rotation check"),
        F("vxs:oil", [sv], f"The VXS-80 oil chamber holds {s['oil_l']} L of {s['oil_grade']}.", [f"{s['oil_l']} L"],
          ["How much oil is in the VXS-80 oil chamber?", "What oil goes in the VXS-80 seal chamber?", "VXS-80 oil chamber capacity?"],
          ["What volume of oil does the VXS-80 oil chamber take?", "How many litres of white oil fill a VXS-80 oil chamber?"], G, "oil chamber volume"),
        F("vxs:oil_interval", [sv], f"Inspect the VXS-80 oil chamber every {s['oil_h']} operating hours or every {s['oil_months']} months, whichever comes first.",
          [f"{s['oil_h']}"],
          ["How often should the VXS-80 oil chamber be checked?", "VXS-80 oil inspection interval?"],
          ["After how many operating hours is the VXS-80 oil chamber inspection due?"], G, "oil inspection interval"),
        F("vxs:water", [sv], f"If the VXS-80 oil is milky or contains more than {s['water_pct']}% water, the lower seal is leaking; replace both seals with kit {s['seal_kit']}.",
          [f"{s['water_pct']}%"],
          ["When do the VXS-80 seals need replacing based on the oil check?", "How much water in the VXS-80 oil means a seal change?"],
          ["What water content in the VXS-80 oil chamber means the seals must be replaced?"], G, "water-in-oil limit"),
        F("vxs:seal_kit", [sv], f"The VXS-80 double seal kit is {s['seal_kit']}; it contains both seals, the O-rings and the sealing washers.", [s["seal_kit"]],
          ["What is the seal kit for the VXS-80?", "VXS-80 seal part number?", "Which seal kit do I order for a VXS-80?"],
          ["Which part number is the double mechanical seal kit of the VXS-80 submersible?", "What seal kit should I order to reseal a VXS-80?"], G, "seal kit part number"),
        F("vxs:clearance", [sv], f"The VXS-80 impeller-to-wear-plate clearance is {s['clr_min']}-{s['clr_max']} mm; readjust it when it reaches {s['clr_adjust']} mm.",
          [f"{s['clr_adjust']} mm"],
          ["What impeller clearance does the VXS-80 need?", "When should I adjust the VXS-80 impeller clearance?"],
          ["At what impeller-to-wear-plate clearance must the VXS-80 be readjusted?"], G, "impeller clearance"),
        F("vxs:imp_bolt", [sv], f"Tighten the VXS-80 impeller bolt to {s['imp_bolt']} N·m.", [f"{s['imp_bolt']} N·m"],
          ["What torque for the VXS-80 impeller bolt?", "VXS-80 impeller bolt torque?"],
          ["To what torque is the impeller bolt of a VXS-80 tightened?"], G, "impeller bolt torque"),
        F("vxs:imp_part", [sv], f"The VXS-80 replacement impeller is part {s['imp_part']}.", [s["imp_part"]],
          ["What is the VXS-80 impeller part number?", "Which impeller fits the VXS-80?"],
          ["Which part number is the replacement impeller for a VXS-80?"], G, "impeller part number"),
        F("vxs:thermal", [sv], f"The VXS-80 winding thermal switches open at {s['thermal_c']} °C and reset automatically once the motor has cooled; the AD-7 shows E10.",
          [f"{s['thermal_c']} °C"],
          ["At what temperature do the VXS-80 thermal switches trip?", "VXS-80 winding protection temperature?"],
          ["What temperature opens the motor thermal switches in a VXS-80?"], G, "thermal switch temperature"),
    ]


def vxm_facts() -> list[dict]:
    s = {k: (g(v) if isinstance(v, (int, float)) else v) for k, v in VXM4.items()}
    sp, ins, mt = "vxm-4-specifications", "vxm-4-installation-commissioning", "vxm-4-maintenance"
    G = "vxm-4"
    return [
        F("vxm:stages", [sp], f"The VXM-4 is a vertical in-line pump with {s['stages']} stages.", [f"{s['stages']} stages"],
          ["How many stages does the VXM-4 have?", "VXM-4 stage count?"],
          ["How many impeller stages are in a VXM-4 multistage pump?"], G, "number of stages"),
        F("vxm:flow", [sp], f"The VXM-4 delivers {s['flow']} m³/h at its best efficiency point.", [f"{s['flow']} m³/h"],
          ["What's the rated flow of the VXM-4?", "How much does the VXM-4 pump?"],
          ["What flow rate is the VXM-4 multistage rated for?"], G, "rated flow"),
        F("vxm:head", [sp], f"The VXM-4 is rated for a total head of {s['head']} m.", [f"{s['head']} m"],
          ["What head does the VXM-4 develop?", "VXM-4 rated head?", "How much head from a VXM-4?"],
          ["To what total head is the VXM-4 multistage pump rated?", "How many metres of head does a VXM-4 produce at its duty point?"], G, "rated head"),
        F("vxm:motor", [sp], f"The VXM-4 is driven by a {s['kw']} kW two-pole motor at {s['rpm']} rpm.", [f"{s['kw']} kW"],
          ["What motor does the VXM-4 have?", "VXM-4 motor size?"],
          ["What is the motor rating, in kW, of a VXM-4?"], G, "motor power"),
        F("vxm:pmax", [sp], f"The VXM-4 is rated for a maximum working pressure of {s['pmax']} bar.", [f"{s['pmax']} bar"],
          ["What is the pressure rating of the VXM-4?", "Max working pressure of a VXM-4?", "How many bar can the VXM-4 take?"],
          ["What maximum working pressure is the VXM-4 multistage designed for?", "Up to what system pressure in bar may a VXM-4 be used?"], G, "maximum working pressure"),
        F("vxm:tmax", [sp], f"The maximum liquid temperature for the VXM-4 is {s['tmax']} °C.", [f"{s['tmax']} °C"],
          ["What is the maximum liquid temperature of the VXM-4?", "How hot can the water be for a VXM-4?"],
          ["What is the highest pumped-liquid temperature allowed for the VXM-4?"], G, "maximum liquid temperature"),
        F("vxm:npshr", [sp], f"The VXM-4 requires an NPSH of {s['npshr']} m at rated flow.", [f"{s['npshr']} m"],
          ["What is the NPSHr of the VXM-4?", "How much NPSH does the VXM-4 need?"],
          ["What net positive suction head is required by a VXM-4 at its rated flow?"], G, "NPSH required"),
        F("vxm:qmin", [sp], f"Do not run the VXM-4 continuously below {s['qmin']} m³/h.", [f"{s['qmin']} m³/h"],
          ["What is the minimum flow for the VXM-4?", "VXM-4 minimum continuous flow?"],
          ["Below what flow must the VXM-4 not be operated continuously?"], G, "minimum continuous flow"),
        F("vxm:weight", [sp], f"The VXM-4 weighs {s['weight']} kg with its motor.", [f"{s['weight']} kg"],
          ["How much does a VXM-4 weigh?", "VXM-4 weight with motor?"],
          ["What is the total mass of a VXM-4 including the motor?"], G, "weight"),
        F("vxm:flanges", [sp], f"The VXM-4 has DN{s['dn']} in-line flanges drilled to PN25.", [f"DN{s['dn']}"],
          ["What size flanges does the VXM-4 have?", "VXM-4 connection size?"],
          ["What nominal diameter are the in-line flanges of the VXM-4?"], G, "flange size"),
        F("vxm:base_bolts", [ins], f"Fix the VXM-4 foot with four M12 bolts tightened to {s['base_bolts']} N·m.", [f"{s['base_bolts']} N·m"],
          ["What torque for the VXM-4 base bolts?", "How tight are the VXM-4 foot bolts?"],
          ["To what torque are the four foot bolts of a VXM-4 tightened?"], G, "base bolt torque"),
        F("vxm:closed_valve", [ins], f"Never run the VXM-4 against a closed discharge valve for more than {s['closed_valve_s']} seconds; the liquid heats up fast enough to damage the seal.",
          [f"{s['closed_valve_s']} seconds"],
          ["How long can the VXM-4 run against a closed valve?", "Closed-valve running limit for the VXM-4?"],
          ["What is the maximum time a VXM-4 may run with its discharge valve shut?"], G, "closed-valve limit"),
        F("vxm:p10", [ins], f"For the VXM-4, set the AD-7 minimum frequency P10 to {s['p10_hz']} Hz instead of the 25 Hz default.", [f"{s['p10_hz']} Hz"],
          ["What minimum frequency should the AD-7 use on a VXM-4?", "P10 setting for the VXM-4?"],
          ["Which minimum frequency (P10) does Aquilon recommend when an AD-7 drives a VXM-4?"], G, "minimum frequency setting"),
        F("vxm:vent", [ins], "Vent the VXM-4 through the vent screw in the pump head, with the suction valve open, until a steady stream of water comes out.",
          ["vent screw"],
          ["How do I vent the VXM-4?", "Where is the VXM-4 vented?"],
          ["Where is the air let out of a VXM-4 when filling it?"], G, "venting point"),
        F("vxm:seal_kit", [mt], f"The VXM-4 seal is cartridge {s['seal_kit']}; it can be replaced without dismantling the stage stack, with only the motor lifted off.",
          [s["seal_kit"]],
          ["What is the seal part number for the VXM-4?", "Which seal cartridge fits the VXM-4?", "VXM-4 mechanical seal P/N?"],
          ["Which cartridge seal part number is used in a VXM-4?", "What seal should I order for a leaking VXM-4?"], G, "seal part number"),
        F("vxm:coupling", [mt], f"Tighten the VXM-4 coupling screws evenly, alternating sides, to {s['coupling_screw']} N·m.", [f"{s['coupling_screw']} N·m"],
          ["What torque for the VXM-4 coupling screws?", "VXM-4 coupling screw torque?"],
          ["To what torque are the split-coupling screws on a VXM-4 tightened?"], G, "coupling screw torque"),
        F("vxm:lift", [mt], f"Use setting fork {s['fork']} when tightening the VXM-4 coupling; it lifts the shaft {s['lift_mm']} mm from its lowest position.",
          [f"{s['lift_mm']} mm"],
          ["How is the VXM-4 shaft height set?", "How much shaft lift does the VXM-4 need?"],
          ["By how many millimetres is the VXM-4 shaft raised when the coupling is set?"], G, "shaft lift"),
        F("vxm:tie_bolt", [mt], f"Tighten the VXM-4 tie-bolt nuts in a cross pattern to {s['tie_bolt']} N·m.", [f"{s['tie_bolt']} N·m"],
          ["What torque for the VXM-4 tie bolts?", "VXM-4 tie-bolt nut torque?"],
          ["To what torque must the tie-bolt nuts of a VXM-4 be tightened after a stage change?"], G, "tie-bolt torque"),
        F("vxm:stage_kit", [mt], f"The VXM-4 stage kit is {s['stage_kit']}, with all impellers, diffusers and neck rings for the four stages.", [s["stage_kit"]],
          ["What is the stage kit part number for the VXM-4?", "Which kit replaces the VXM-4 stages?"],
          ["What part number is the complete replacement stage stack for a VXM-4?"], G, "stage kit part number"),
        F("vxm:motor_brg", [mt], f"The VXM-4 motor bearings are greased for life; replace them every {s['motor_brg_h']} operating hours.", [f"{s['motor_brg_h']}"],
          ["How often should the VXM-4 motor bearings be replaced?", "Do the VXM-4 motor bearings need grease?"],
          ["After how many operating hours are the VXM-4 motor bearings replaced?"], G, "motor bearing interval"),
        F("vxm:vib_alarm", ["troubleshooting-vibration"], f"The vibration alarm level for the VXM-4 is {s['vib_a']} mm/s RMS, measured on the motor stool.", [f"{s['vib_a']} mm/s"],
          ["What is the vibration alarm level for the VXM-4?", "VXM-4 vibration alarm?"],
          ["At what RMS vibration velocity does a VXM-4 reach its alarm level?"], G, "vibration alarm level"),
        F("vxm:vib_trip", ["troubleshooting-vibration"], f"Shut the VXM-4 down when vibration reaches {s['vib_t']} mm/s RMS.", [f"{s['vib_t']} mm/s"],
          ["What is the vibration trip level for the VXM-4?", "At what vibration do I stop a VXM-4?"],
          ["What vibration level means a VXM-4 must be shut down?"], G, "vibration trip level"),
    ]


def _lc_first(name: str) -> str:
    return name if name[:2].isupper() else name[0].lower() + name[1:]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip())[0]


def ad7_facts() -> list[dict]:
    facts = []
    for code, name, kt, cause, fix, reset in AD7_FAULTS:
        part = "ad-7-fault-codes-part-1" if int(code[1:]) <= 12 else "ad-7-fault-codes-part-2"
        a = f"{code} on the AquiDrive AD-7 is {_lc_first(name)}. {_first_sentence(cause)} Remedy: {_first_sentence(fix)}"
        facts.append(F(
            f"ad7:{code}", [part], a, kt,
            [f"What does fault {code} mean on the AD-7?",
             f"AD-7 showing {code}, what should I do?",
             f"AquiDrive {code} fault: cause and fix?"],
            [f"The AquiDrive AD-7 display reads {code}. What is the fault and how do I clear it?",
             f"Explain fault code {code} on an AquiDrive AD-7 drive."],
            group="ad7-faults", label=code))
    # reset behaviour of the auto-reset faults
    autos = [f[0] for f in AD7_FAULTS if f[5] == "auto" and f[0] in ("E04", "E05", "E06")]
    facts.append(F(
        "ad7:auto_restart", ["ad-7-drive-setup", "ad-7-fault-codes-part-1"],
        f"After {', '.join(autos[:-1])} or {autos[-1]} the AD-7 restarts automatically up to the number of attempts in P40 (default 3) before it locks out.",
        ["P40", "3"],
        ["How many times does the AD-7 auto-restart after a supply fault?", "Which parameter sets the AD-7 auto-restart attempts?"],
        ["How many automatic restart attempts does the AquiDrive AD-7 make after E04, E05 or E06 by default?"],
        group="ad7-params", label="auto-restart setting"))
    P = "ad-7-drive-setup"
    G = "ad7-params"
    facts += [
        F("ad7:P01", [P], "P01 is the motor rated current. Enter the full-load current from the motor nameplate; the overload protection (E09) is calculated from it.",
          ["P01"],
          ["Which AD-7 parameter holds the motor current?", "Where do I enter the motor nameplate amps on the AD-7?"],
          ["In which AquiDrive AD-7 parameter is the motor rated current set?"], G, "motor current parameter"),
        F("ad7:P07", [P], "The AD-7 acceleration time P07 defaults to 5 s; use 10 s for the VX-300 and the VX-450.", ["5 s", "10 s"],
          ["What is the default acceleration time on the AD-7?", "What should P07 be set to for a VX-450?", "AD-7 ramp-up time default?"],
          ["What is the factory acceleration time P07 of an AquiDrive AD-7, and what value is recommended for the VX-300?",
           "How long should the AquiDrive AD-7 acceleration ramp (P07) be for a VX-450?"], G, "acceleration time"),
        F("ad7:P08", [P], "The AD-7 deceleration time P08 defaults to 5 s; too short a time causes E04 overvoltage.", ["5 s"],
          ["What is the AD-7 default deceleration time?", "P08 default on the AD-7?"],
          ["What factory value does the AquiDrive AD-7 deceleration time P08 have?"], G, "deceleration time"),
        F("ad7:P10", [P], "The AD-7 minimum frequency P10 defaults to 25 Hz (30 Hz is recommended for the VXM-4).", ["25 Hz"],
          ["What's the default minimum frequency on the AD-7?", "AD-7 P10 default?"],
          ["What is the factory minimum frequency P10 of the AquiDrive AD-7?"], G, "minimum frequency"),
        F("ad7:P11", [P], "The AD-7 maximum frequency P11 is 50 Hz and must not be set higher: Vortex impellers and motors are rated for 50 Hz speed only.", ["50 Hz"],
          ["Can I run the AD-7 above 50 Hz?", "What is the maximum frequency setting on the AD-7?"],
          ["What is the highest value P11 may be set to on an AquiDrive AD-7 driving a Vortex pump?"], G, "maximum frequency"),
        F("ad7:P20", [P], "The AD-7 dry-run power threshold P20 defaults to 30% of rated power.", ["30%"],
          ["What is the AD-7 dry-run threshold?", "Default P20 on the AD-7?"],
          ["At what percentage of rated power does the AquiDrive AD-7 dry-run detection (P20) trip by default?"], G, "dry-run threshold"),
        F("ad7:P21", [P], "The AD-7 dry-run delay P21 defaults to 10 s: power must stay below P20 this long before E12 trips.", ["10 s"],
          ["How long before the AD-7 trips on dry run?", "AD-7 dry-run delay?"],
          ["What is the default dry-run delay time P21 on an AquiDrive AD-7?"], G, "dry-run delay"),
        F("ad7:P23", [P], "The AD-7 low suction pressure trip P23 defaults to 0.3 bar (fault E13, needs a suction transmitter on AI2).", ["0.3 bar"],
          ["What is the AD-7 low suction pressure trip setting?", "AD-7 P23 default?"],
          ["At what suction pressure does the AquiDrive AD-7 trip on E13 by default?"], G, "low suction pressure trip"),
        F("ad7:P27", [P], "The AD-7 bearing temperature trip P27 defaults to 90 °C; set it to the bearing limit of the pump. The alarm comes 5 K below the trip.", ["90 °C"],
          ["What is the AD-7 bearing temperature trip default?", "AD-7 P27 default?"],
          ["What is the factory setting of the AquiDrive AD-7 bearing temperature trip P27?"], G, "bearing temperature trip"),
        F("ad7:P29", [P], "The AD-7 vibration trip P29 defaults to 7.1 mm/s; set it to the trip value of the pump model.", ["7.1 mm/s"],
          ["What is the default vibration trip on the AD-7?", "AD-7 P29 default?"],
          ["What factory vibration trip value does parameter P29 of the AquiDrive AD-7 have?"], G, "vibration trip default"),
        F("ad7:P33", [P], "The AD-7 maximum starts per hour P33 defaults to 10 (set 15 for the VXS-80); E24 trips when it is exceeded.", ["10"],
          ["How many starts per hour does the AD-7 allow by default?", "AD-7 P33 default?"],
          ["What is the factory default of the AquiDrive AD-7 maximum-starts-per-hour parameter P33?"], G, "starts per hour limit"),
        F("ad7:P35", [P], "The AD-7 fieldbus timeout P35 defaults to 5 s; after that without a valid Modbus message, E20 trips.", ["5 s"],
          ["What's the Modbus timeout on the AD-7?", "AD-7 P35 default?"],
          ["How long without a Modbus message before the AquiDrive AD-7 raises E20 by default?"], G, "fieldbus timeout"),
        F("ad7:P99", [P], "To restore the AD-7 factory settings, stop the drive, set P99 to 1 and press MODE; the display shows rES and P01 must then be entered again.",
          ["P99"],
          ["How do I factory reset the AD-7?", "How do I restore the AD-7 defaults?"],
          ["Which parameter restores the factory defaults of an AquiDrive AD-7, and what value is written to it?"], G, "factory reset"),
    ]
    return facts


def general_facts() -> list[dict]:
    w, i, st, p, cv, pr = WARRANTY, INTERVALS, STORAGE, PRIMING, CAVITATION, PARTS
    S, W, GL, SI = "safety-lockout-tagout", "warranty-terms", "glossary", "service-intervals"
    CAV, VIB, OH = "troubleshooting-cavitation", "troubleshooting-vibration", "troubleshooting-overheating-leaks"
    STO, PRI, PAR = "storage-and-winterization", "priming-and-commissioning", "spare-parts-and-ordering"
    return [
        # safety
        F("safety:cap_wait", [S], f"Wait at least {AD7['cap_wait_min']} minutes after isolating the AquiDrive AD-7 before opening its terminal cover, so the DC bus capacitors can discharge.",
          [f"{AD7['cap_wait_min']} minutes"],
          ["How long do I wait after switching off the AD-7 before opening it?", "Capacitor discharge time for the AD-7?", "How long after isolation before I can open the AD-7 terminal cover?"],
          ["According to the lockout procedure, how many minutes must pass after isolating an AquiDrive AD-7 before its terminals are touched?",
           "What waiting time applies to the AquiDrive AD-7 DC bus capacitors after the supply is switched off?"], S, "capacitor wait time"),
        F("safety:dc_volts", [S], f"Measure between DC+ and DC-: the AD-7 DC bus voltage must be below {AD7['dc_safe_v']} V before you touch anything inside the drive.",
          [f"{AD7['dc_safe_v']} V"],
          ["What DC bus voltage is safe on the AD-7?", "Below what voltage is the AD-7 DC bus safe to work on?"],
          ["What maximum DC bus voltage must be measured on an AquiDrive AD-7 before working inside it?"], S, "safe DC bus voltage"),
        F("safety:casing_temp", [S], f"Do not open the casing or loosen pressure-holding bolts until the casing surface of the Vortex pump is below {SAFETY['casing_c']} °C.",
          [f"{SAFETY['casing_c']} °C"],
          ["How cool must the pump be before I open the casing?", "Casing temperature limit before opening a Vortex pump?"],
          ["Under the Vortex lockout procedure, below what casing temperature may the pump casing be opened?"], S, "casing temperature limit"),
        F("safety:lock_removal", [S], "Each person fits his or her own padlock, and a lock may only be removed by the person who fitted it, once his or her work is finished.",
          ["person who fitted"],
          ["Who can remove a lockout padlock?", "Can a colleague remove my lock at the end of a shift?"],
          [], S, "lock removal rule"),
        F("safety:eyebolts", [S], "The motor eyebolts are rated for the motor alone, so never lift a complete pump set by them; use the lifting points given in the model's specification manual.",
          ["motor alone"],
          ["Can I lift a pump set by the motor eyebolts?", "Are the motor eyebolts OK for lifting the whole unit?"],
          ["Why must a complete Vortex pump set never be lifted by the motor eyebolts?"], S, "eyebolt rule"),
        F("safety:try_start", [S], "After locking out, try to start the pump from its local control to prove the isolation works, then return the control to off.",
          ["start"],
          ["How do I prove the isolation is effective?", "What is the last step of the lockout procedure?"],
          [], S, "isolation test"),
        # warranty
        F("warranty:period", [W], f"The standard warranty runs {w['months_commission']} months from commissioning or {w['months_ship']} months from shipment, whichever ends first.",
          [f"{w['months_commission']} months", f"{w['months_ship']} months"],
          ["How long is the warranty on a Vortex pump?", "What is the standard Aquilon warranty period?", "Warranty length for an AD-7 drive?"],
          ["What standard warranty period does Aquilon Pumpworks give on Vortex pumps and AD-7 drives?",
           "For how many months after commissioning is a new Vortex pump under warranty?"], W, "warranty period"),
        F("warranty:seals", [W], f"Mechanical seals are covered for {w['seal_months']} months from commissioning.", [f"{w['seal_months']} months"],
          ["How long are mechanical seals under warranty?", "Seal warranty period?"],
          ["For how long does the Aquilon warranty cover the mechanical seal of a Vortex pump?"], W, "seal warranty"),
        F("warranty:consumables", [W], "Wear rings, coupling elements, gaskets, O-rings and lubricating oil are consumables and are not covered by the warranty.",
          ["consumables"],
          ["Are wear rings covered by warranty?", "Which parts are excluded from the warranty as consumables?"],
          ["Does the Aquilon warranty cover a worn coupling element or wear ring on a Vortex pump?"], W, "excluded consumables"),
        F("warranty:claim", [W], f"Report the defect within {w['claim_days']} days of discovering it on warranty claim form {w['claim_form']}, with the serial number, running hours and fault description.",
          [w["claim_form"]],
          ["How do I make a warranty claim?", "Which form is used for warranty claims?", "How soon must I report a warranty defect?"],
          ["What form number is used to file an Aquilon warranty claim, and how quickly must it be submitted?"], W, "claim procedure"),
        F("warranty:retain", [W], f"Keep the failed parts for at least {w['retain_days']} days after the claim, so that Aquilon can inspect them.",
          [f"{w['retain_days']} days"],
          ["How long must I keep failed parts after a claim?", "Can I scrap the failed parts after claiming?"],
          ["For how many days must failed parts be retained after an Aquilon warranty claim?"], W, "parts retention"),
        F("warranty:aquicare", [W], f"With an AquiCare service contract, the warranty is extended to a total of {w['aquicare_months']} months from commissioning.",
          [f"{w['aquicare_months']} months"],
          ["What does AquiCare give me?", "How long is the extended warranty?", "AquiCare warranty length?"],
          ["To how many months in total does an AquiCare contract extend the Vortex warranty?"], W, "extended warranty"),
        F("warranty:void", [W], "Damage from dry running, cavitation from insufficient NPSH, operation outside the rated limits, non-genuine parts, incorrect installation and external causes such as frost is not covered.",
          ["dry running"],
          ["What voids the warranty?", "Is dry-running damage covered?"],
          [], W, "warranty exclusions"),
        # glossary
        F("glossary:bep", [GL], "BEP stands for best efficiency point: the flow and head at which a pump reaches its highest efficiency. Vortex ratings are given at the BEP.",
          ["best efficiency point"],
          ["What does BEP mean?", "What is the BEP of a pump?"],
          ["In the Vortex manuals, what does the abbreviation BEP stand for?"], GL, "BEP"),
        F("glossary:npsha", [GL], "NPSHa is the net positive suction head available: the absolute pressure head at the pump suction above the liquid's vapour pressure, set by the installation.",
          ["available"],
          ["What is NPSHa?", "What's the difference between NPSHa and NPSHr?"],
          ["What does NPSHa mean in the Aquilon glossary?"], GL, "NPSHa"),
        F("glossary:soft_foot", [GL], "Soft foot is when one machine foot does not sit flat on its base, so tightening its bolt distorts the frame; it is measured as the lift of the foot when the bolt is loosened.",
          ["flat"],
          ["What is soft foot?", "Define soft foot."],
          [], GL, "soft foot"),
        F("glossary:shutoff", [GL], "Shut-off head is the head a pump develops at zero flow, that is, against a closed discharge valve.",
          ["zero flow"],
          ["What is shut-off head?", "Define shut-off head."],
          ["How does the Aquilon glossary define shut-off head?"], GL, "shut-off head"),
        F("glossary:telltale", [GL, OH], "The tell-tale hole is the drain hole at the bottom of the bearing bracket between seal and bearing housing; liquid coming out of it means the mechanical seal is leaking.",
          ["seal"],
          ["What is the tell-tale hole for?", "Water is dripping from the tell-tale hole, what does it mean?"],
          ["What does liquid coming out of the tell-tale hole on a VX bearing bracket indicate?"], GL, "tell-tale hole"),
        # service intervals
        F("intervals:vibration", [SI], "Take vibration readings every month at both bearing housings, in the horizontal, vertical and axial directions, and trend them.",
          ["month"],
          ["How often should vibration be measured?", "Vibration reading interval for VX pumps?"],
          ["How frequently should vibration readings be taken on Vortex end-suction pumps?"], SI, "vibration reading interval"),
        F("intervals:alignment", [SI], f"Check the shaft alignment of Vortex end-suction pumps every {i['align_months']} months, and whenever the pump or pipework has been disturbed.",
          [f"{i['align_months']} months"],
          ["How often should alignment be rechecked?", "Alignment check interval?"],
          ["At what interval should the shaft alignment of a VX pump be re-checked in service?"], SI, "alignment check interval"),
        F("intervals:wear_ring", [SI], f"Measure the wear ring clearance every {i['wear_months']} months on Vortex end-suction pumps.",
          [f"{i['wear_months']} months"],
          ["How often is the wear ring clearance measured?", "Wear ring inspection interval?"],
          ["How often does the VX service schedule call for measuring wear ring clearance?"], SI, "wear ring check interval"),
        F("intervals:overhaul", [SI], f"A major overhaul is due every {i['overhaul_h']} operating hours or every {i['overhaul_years']} years, whichever comes first.",
          [f"{i['overhaul_years']} years"],
          ["When is a major overhaul due?", "How often should a VX pump be overhauled?", "Overhaul interval for Vortex end-suction pumps?"],
          ["After how many years or operating hours does a Vortex end-suction pump need a major overhaul?",
           "What is the major overhaul interval in the VX service schedule?"], SI, "overhaul interval"),
        F("intervals:oil_level", [SI], "Check the oil level in the bearing housing sight glass every week and top up if needed.",
          ["week"],
          ["How often should the oil level be checked?", "Oil level check frequency?"],
          [], SI, "oil level check"),
        # cavitation
        F("cav:margin", [CAV], f"NPSHa must exceed NPSHr by at least {g(cv['margin_m'])} m or be at least {g(cv['margin_factor'])} times NPSHr, whichever margin is larger.",
          [f"{g(cv['margin_m'])} m", f"{g(cv['margin_factor'])}"],
          ["What NPSH margin does Aquilon require?", "How much NPSHa do I need above NPSHr?", "NPSH safety margin rule?"],
          ["What minimum margin between NPSH available and NPSH required does Aquilon specify for Vortex pumps?",
           "By how much must NPSHa exceed NPSHr in an Aquilon installation?"], CAV, "NPSH margin"),
        F("cav:velocity", [CAV], f"Keep the suction pipe velocity at or below {g(cv['suction_vel'])} m/s.", [f"{g(cv['suction_vel'])} m/s"],
          ["What is the maximum suction pipe velocity?", "How fast can water flow in the suction line?"],
          ["What maximum flow velocity in the suction pipe does the Aquilon cavitation guide allow?"], CAV, "suction velocity limit"),
        F("cav:sound", [CAV], "A cavitating pump sounds as if gravel is passing through it: a crackling, rattling noise near the suction flange.",
          ["gravel"],
          ["What does cavitation sound like?", "How can I hear if a pump is cavitating?"],
          ["What noise does a Vortex pump make when it is cavitating?"], CAV, "cavitation noise"),
        F("cav:suction_valve", [CAV], "No. Never throttle with the suction valve; it must always be fully open. Control the flow on the discharge side.",
          ["discharge"],
          ["Can I throttle the pump with the suction valve?", "Should the suction valve be used to control flow?"],
          [], CAV, "suction valve rule"),
        F("cav:reducer", [CAV], "Use an eccentric reducer with the flat side up on the suction side, so that no air pocket forms.",
          ["flat side up"],
          ["How should the suction reducer be installed?", "Which way up does the eccentric reducer go?"],
          ["On the suction side of a Vortex pump, how must an eccentric reducer be oriented?"], CAV, "suction reducer"),
        # vibration general
        F("vib:accept", [VIB], f"A new or overhauled Vortex pump should vibrate less than {g(VIBRATION['accept'])} mm/s at every measuring point; this is the commissioning acceptance value.",
          [f"{g(VIBRATION['accept'])} mm/s"],
          ["What vibration is acceptable on a new pump?", "Commissioning vibration acceptance level?"],
          ["What is the vibration acceptance value for commissioning a new or overhauled Vortex pump?"], VIB, "acceptance value"),
        F("vib:directions", [VIB], "Measure on both bearing housings in three directions: horizontal, vertical and axial, as velocity RMS in mm/s.",
          ["axial"],
          ["Where do I measure vibration on a VX pump?", "In which directions is vibration measured?"],
          [], VIB, "measuring directions"),
        F("vib:2x", [VIB], "Vibration at 2× running speed with high axial readings points to misalignment; check the alignment and soft foot.",
          ["misalignment"],
          ["What does 2x running speed vibration mean?", "High axial vibration at twice running speed, what's the cause?"],
          ["In the Vortex vibration guide, which fault is indicated by vibration at twice running speed with high axial readings?"], VIB, "2× vibration"),
        F("vib:1x", [VIB], "Vibration mainly at 1× running speed in the radial direction indicates imbalance; check the impeller for clogging, erosion or damage.",
          ["imbalance"],
          ["What does 1x running speed vibration indicate?", "Radial vibration at running speed, what's wrong?"],
          [], VIB, "1× vibration"),
        # overheating and leaks
        F("oh:oil_level", [OH], "With the pump stopped, the oil level must be at the centre of the sight glass.", ["centre"],
          ["Where should the oil level be in the sight glass?", "What is the correct bearing oil level?"],
          ["On a Vortex bearing housing, at what point of the sight glass should the oil level be?"], OH, "correct oil level"),
        F("oh:overfill", [OH], "Yes. Overfilling makes the bearings churn the oil, which heats up and foams; drain down to the centre of the sight glass.",
          ["churn"],
          ["Can too much oil make the bearings hot?", "Is overfilling the bearing housing a problem?"],
          [], OH, "overfilling"),
        F("oh:casing_leak", [OH], "Isolate and depressurise, then retighten the casing bolts in a cross pattern to the specified torque; if it still leaks, replace the casing gasket.",
          ["gasket"],
          ["The casing joint is leaking, what do I do?", "How do I fix a casing joint leak?"],
          [], OH, "casing joint leak"),
        F("oh:lip_seals", [OH], "Oil leaking at the ends of the bearing bracket comes from worn lip seals; replace them with the bearing kit of the model.",
          ["lip seals"],
          ["Oil is leaking from the bearing bracket, why?", "What causes oil leaks at the coupling end?"],
          [], OH, "oil leak"),
        # storage
        F("sto:rotate", [STO], f"During long-term storage, turn the shaft by hand {st['turns']} full turns every {st['rotate_weeks']} weeks.",
          [f"{st['rotate_weeks']} weeks"],
          ["How often should I turn the shaft of a stored pump?", "Shaft rotation during storage?", "How many turns do I give a stored pump shaft?"],
          ["In long-term storage, how often must the shaft of a Vortex pump be rotated by hand, and by how much?",
           "What shaft-turning routine does Aquilon require for pumps in storage?"], STO, "shaft rotation"),
        F("sto:temp", [STO], f"Store Vortex pumps between {st['tmin']} °C and +{st['tmax']} °C, indoors, dry and vibration-free.",
          [f"{st['tmin']} °C", f"{st['tmax']} °C"],
          ["What temperature range for storing pumps?", "Storage temperature limits?"],
          ["What storage temperature range does Aquilon allow for Vortex pumps?"], STO, "storage temperature"),
        F("sto:long_term", [STO], f"Long-term storage preservation applies when a pump is stored for more than {st['long_months']} months.",
          [f"{st['long_months']} months"],
          ["When does long-term storage apply?", "After how long is storage considered long term?"],
          ["Beyond how many months of storage must the long-term preservation steps be applied to a Vortex pump?"], STO, "long-term threshold"),
        F("sto:air", [STO], f"Blow out the remaining water with compressed air at no more than {st['air_bar']} bar, so that the seal is not damaged.",
          [f"{st['air_bar']} bar"],
          ["What air pressure for blowing out a pump?", "Compressed air limit when winterizing?"],
          ["What is the maximum compressed-air pressure for blowing water out of a Vortex pump during winterization?"], STO, "blow-out air pressure"),
        F("sto:glycol", [STO], f"Where a pump cannot be drained, fill it with a {st['glycol_pct']}% solution of propylene glycol in water.",
          [f"{st['glycol_pct']}%"],
          ["What antifreeze should I use in a pump that can't be drained?", "Glycol concentration for winterizing?"],
          ["What concentration of propylene glycol does Aquilon specify for winterizing a pump that cannot be drained?"], STO, "antifreeze"),
        F("sto:bearing_oil", [STO], "For long-term storage, fill the bearing housing completely with oil up to the filler plug, label the pump, and drain to the normal level before commissioning.",
          ["filler plug"],
          ["What do I do with the bearing oil for long storage?", "Should the bearing housing be filled for storage?"],
          [], STO, "storage oil fill"),
        # priming and commissioning
        F("pri:self_priming", [PRI], "No. Vortex end-suction pumps are not self-priming; fill the casing and suction pipe through the priming plug until liquid comes out free of air.",
          ["not self-priming"],
          ["Are VX pumps self-priming?", "Do I need to prime a VX pump?"],
          ["Is a Vortex VX end-suction pump able to prime itself?"], PRI, "self-priming"),
        F("pri:jog", [PRI], f"Check rotation with the pump filled, never dry, by jogging the motor for no longer than {p['jog_s']} seconds.",
          [f"{p['jog_s']} seconds"],
          ["How long can I bump the motor to check rotation?", "How do I check rotation on a VX pump?"],
          ["For how many seconds at most may the motor be jogged when checking the rotation of a VX pump?"], PRI, "rotation check"),
        F("pri:open_valve", [PRI], f"Open the discharge valve slowly within {p['open_s']} seconds of starting; do not run longer than that against a closed valve.",
          [f"{p['open_s']} seconds"],
          ["How soon after start must the discharge valve be opened?", "How long can a VX pump run against a closed valve?"],
          ["On the first start of a VX end-suction pump, within how many seconds must the discharge valve be opened?"], PRI, "valve opening time"),
        F("pri:readings", [PRI], f"Run the pump at its duty point for {p['readings_h']} hours, then record the commissioning readings on form {p['report']}.",
          [p["report"]],
          ["When are commissioning readings taken?", "What form is the commissioning report?"],
          ["Which form number is the Aquilon commissioning report?"], PRI, "commissioning readings"),
        F("pri:report", [PRI], f"Return the completed commissioning report to Aquilon within {p['report_days']} days of commissioning; it registers the pump for warranty.",
          [f"{p['report_days']} days"],
          ["When must the commissioning report be sent in?", "Deadline for returning the commissioning report?"],
          ["Within how many days of commissioning must the AQ-CR-01 report be returned to Aquilon?"], PRI, "report deadline"),
        # parts ordering
        F("parts:serial", [PAR], "Always quote the pump serial number from the nameplate together with the part number.", ["serial number"],
          ["What do I need to quote when ordering parts?", "What info goes on a spare parts order?"],
          [], PAR, "order information"),
        F("parts:lead", [PAR], f"Stocked parts are dispatched within {pr['lead_days']} working days; the express service dispatches within {pr['express_h']} hours at extra cost.",
          [f"{pr['lead_days']} working days"],
          ["How long does it take to get spare parts?", "What's the lead time for stocked parts?", "Is there an express parts service?"],
          ["What is the standard dispatch time for stocked Aquilon spare parts?"], PAR, "lead time"),
        F("parts:returns", [PAR], f"Unused parts in original unopened packaging can be returned within {pr['return_days']} days of delivery for full credit.",
          [f"{pr['return_days']} days"],
          ["Can I return unused parts?", "What is the parts return period?"],
          ["Within how many days can unused Aquilon spare parts be returned for credit?"], PAR, "returns"),
        F("parts:numbering", [PAR], "Aquilon part numbers start with AQ-, then the part family and the model: AQ-SEAL-220-M is the cartridge mechanical seal for the VX-220.",
          ["AQ-"],
          ["How are Aquilon part numbers built?", "What does AQ-SEAL-220-M mean?"],
          [], PAR, "part numbering"),
    ]


def all_facts() -> list[dict]:
    facts = es_facts() + vxs_facts() + vxm_facts() + ad7_facts() + general_facts()
    keys = [f["key"] for f in facts]
    assert len(keys) == len(set(keys)), "duplicate fact keys"
    return facts


# ---------------------------------------------------------------------------
# Q&A generation
# ---------------------------------------------------------------------------

FOLLOWUPS = {
    "model": ES_FOLLOWUPS,
    "fault": ["And {label}?", "What about {label} on the same drive?", "Got it. What does {label} mean?"],
    "generic": ["And what about the {label}?", "Thanks. And the {label}?", "One more: what about the {label}?"],
}


def followup_kind(group: str) -> str:
    if group == "ad7-faults":
        return "fault"
    if group.startswith(("vx-", "vxs-", "vxm-")):
        return "model"
    return "generic"


def normalise(q: str) -> str:
    q = q.lower()
    q = re.sub(r"[^\w\s]", " ", q)
    return re.sub(r"\s+", " ", q).strip()


def chat_row(turns: list[tuple[str, str]], doc_ids: list[str]) -> dict:
    msgs = [{"role": "system", "content": SYSTEM_PROMPT}]
    for q, a in turns:
        msgs.append({"role": "user", "content": q})
        msgs.append({"role": "assistant", "content": a})
    return {"messages": msgs, "doc_ids": doc_ids}


def select_heldout(facts: list[dict], rng: random.Random) -> list[tuple[dict, bool]]:
    """Round-robin over gold documents so that held-out facts cover many documents.
    Returns (fact, in_train_facts) pairs, alternating unseen/seen."""
    by_doc: dict[str, list[dict]] = {}
    for f in facts:
        if f["held"]:
            by_doc.setdefault(f["docs"][0], []).append(f)
    order = sorted(by_doc)
    rng.shuffle(order)
    for k in order:
        rng.shuffle(by_doc[k])
    picked: list[dict] = []
    need = N_HELDOUT_SEEN + N_HELDOUT_UNSEEN
    while len(picked) < need:
        progressed = False
        for k in order:
            if by_doc[k] and len(picked) < need:
                picked.append(by_doc[k].pop())
                progressed = True
        assert progressed, "not enough held-out-eligible facts"
    return [(f, i % 2 == 1) for i, f in enumerate(picked)]


def build_qa(facts: list[dict]):
    rng = random.Random(SEED)
    held = select_heldout(facts, rng)
    unseen = {f["key"] for f, seen in held if not seen}
    seen_held = {f["key"] for f, seen in held if seen}

    # --- single-turn rows
    singles = []
    for f in facts:
        if f["key"] in unseen:
            continue
        if f["key"] in seen_held:
            qs = list(f["train"])                     # teach held-out facts thoroughly
        else:
            qs = [rng.choice(f["train"])]
            if len(f["train"]) > 1 and rng.random() < 0.35:
                qs.append(rng.choice([q for q in f["train"] if q != qs[0]]))
        for q in qs:
            singles.append(chat_row([(q, f["a"])], f["docs"]))

    # --- two-turn rows (same model / same drive / same manual)
    groups: dict[str, list[dict]] = {}
    for f in facts:
        if f["key"] not in unseen and f["group"] and f["label"]:
            groups.setdefault(f["group"], []).append(f)
    gnames = sorted(k for k, v in groups.items() if len(v) >= 2)
    n_multi = round(len(singles) * MULTI_TURN_SHARE / (1 - MULTI_TURN_SHARE))
    multis, used = [], set()
    while len(multis) < n_multi:
        gname = rng.choice(gnames)
        a, b = rng.sample(groups[gname], 2)
        if (a["key"], b["key"]) in used:
            continue
        used.add((a["key"], b["key"]))
        q1 = rng.choice(a["train"])
        q2 = rng.choice(FOLLOWUPS[followup_kind(gname)]).format(label=b["label"])
        docs = a["docs"] + [d for d in b["docs"] if d not in a["docs"]]
        multis.append(chat_row([(q1, a["a"]), (q2, b["a"])], docs))

    train = singles + multis
    rng.shuffle(train)

    heldout = []
    for i, (f, seen) in enumerate(held, 1):
        heldout.append({
            "id": f"h{i:03d}",
            "question": rng.choice(f["held"]),
            "answer": f["a"],
            "doc_ids": f["docs"],
            "key_terms": f["kt"],
            "answerable": True,
            "in_train_facts": seen,
        })
    heldout += unanswerable_rows(len(heldout) + 1)
    return train, heldout, unseen


# Held-out questions about the sample's own products that nothing in the dataset answers: a model should
# say ABSTAIN. Each names what it asks for in `absent`: phrases that occur in the question and nowhere in
# the manuals, the extra files or the training answers (unanswerable_problems checks both).
UNANSWERABLE = [
    ("What RAL colour code is the casing of a VX-220 painted in?", ["RAL", "colour code"]),
    ("How loud is a VX-300 at its duty point, in dB(A)?", ["dB(A)"]),
    ("What is the list price of a VXS-80 submersible pump in euros?", ["price", "euros"]),
    ("In which country is the VXM-4 multistage pump manufactured?", ["country", "manufactured"]),
    ("What does fault code E31 mean on an AquiDrive AD-7 drive?", ["E31"]),
    ("What is the rated flow of the Vortex VX-600 end-suction pump?", ["VX-600"]),
    ("Which Bluetooth app reads the running hours of a VX-450?", ["Bluetooth"]),
    ("What is the maximum installation altitude above sea level for a VX-150?", ["altitude", "sea level"]),
    ("Which ATEX zone is the VXS-80 certified for?", ["ATEX"]),
    ("Which firmware version does the AquiDrive AD-7 ship with?", ["firmware"]),
    ("What is the carbon footprint of manufacturing one VX-100 pump?", ["carbon footprint"]),
    ("What MTBF does Aquilon quote for the mechanical seal of a VX-220?", ["MTBF"]),
]


def unanswerable_rows(first: int) -> list[dict]:
    """The UNANSWERABLE questions as held-out rows, numbered from h{first}: no gold documents, no key terms."""
    return [
        {"id": f"h{i:03d}", "question": q, "answer": ABSTAIN, "doc_ids": [], "key_terms": [], "answerable": False}
        for i, (q, _absent) in enumerate(UNANSWERABLE, first)
    ]


def product_names() -> list[str]:
    """The names a question must mention to be about this dataset's products."""
    return [d["model"] for d in END_SUCTION] + [VXS80["model"], VXM4["model"], "AD-7", "AquiDrive", "Vortex"]


def mentions(text: str, phrase: str) -> bool:
    """Whether phrase occurs in text, case-insensitively, not inside a longer word or code (E31 is not in E310)."""
    return re.search(r"(?<![0-9a-z])" + re.escape(phrase.lower()) + r"(?![0-9a-z])", text.lower()) is not None


def unanswerable_problems(questions: list[tuple[str, list[str]]], sources: dict[str, str]) -> list[str]:
    """Why each (question, absent phrases) is not a fair unanswerable question; [] when all are.

    A fair one is about the sample's products (it names one), says what it asks for (each absent phrase is
    in the question) and cannot be answered from sources (name -> text: manuals, extra files, training
    answers), because none of them mentions what it asks for.
    """
    names = product_names()
    problems = []
    for question, absent in questions:
        if not any(mentions(question, name) for name in names):
            problems.append(f"{question!r}: names none of the sample's products")
        if not absent:
            problems.append(f"{question!r}: says nothing about what it asks for (no absent phrases)")
        for phrase in absent:
            if not mentions(question, phrase):
                problems.append(f"{question!r}: does not ask for {phrase!r}")
            problems += [f"{question!r}: {phrase!r} occurs in {name}" for name, text in sources.items()
                         if mentions(text, phrase)]
    return problems


# ---------------------------------------------------------------------------
# Extra files for ingestion edge cases (same domain, same facts)
# ---------------------------------------------------------------------------

def es(model: str) -> dict:
    return next(d for d in END_SUCTION if d["model"] == model)


def extra_bulletin() -> str:
    d = es("VX-220")
    return f"""AQUILON PUMPWORKS - SERVICE BULLETIN SB-2024-07
Date: 15 July 2024
Subject: VX-220 cartridge seal {d['seal_kit']}, revised O-ring compound
Applies to: Vortex VX-220 pumps with serial numbers AQ-2402-00001 to AQ-2413-99999

Summary
Some {d['seal_kit']} cartridge seals fitted to VX-220 pumps built between
week 02 and week 13 of 2024 have secondary O-rings from a batch whose FKM
compound hardens early in hot water. On pumps running above 90 °C the seal
may start to leak within the first 2000 operating hours. Pumps running
cold water are not affected.

Action
1. Check the serial number on the nameplate of every VX-220 on site.
2. For affected pumps on hot-water duty, check the tell-tale hole for
   leakage at the next routine inspection.
3. If leakage is found, replace the cartridge with revision C of
   {d['seal_kit']} (marked "REV C" on the gland). Follow the VX-220
   Mechanical Seal Replacement manual: gland bolts to {g(d['gland'])} N·m,
   drive-collar set screws to {g(d['seal_set'])} N·m, then remove the
   setting clips. Allow the normal {g(d['runin'])} h run-in.

Warranty
Revision C cartridges for affected pumps are supplied free of charge
until 31 December 2024. Quote the pump serial number and this bulletin
number on the order. Return the removed cartridge to Aquilon for analysis.

Aquilon Pumpworks Technical Service
"""


def extra_parts_catalog() -> str:
    recs = []
    src = "Aquilon Parts Catalogue 2024"
    for page, d in enumerate(END_SUCTION, start=12):
        recs.append({
            "id": d["seal_kit"],
            "title": f"Mechanical seal kit for Vortex {d['model']}",
            "text": (f"{d['seal_kit']} is the replacement mechanical seal kit for the Vortex {d['model']} "
                     f"({d['seal_desc']}, {d['faces']} faces, {d['elast']} elastomers). "
                     f"Tighten the gland bolts to {g(d['gland'])} N·m. Run-in period {g(d['runin'])} h."),
            "source": f"{src}, page {page}",
        })
    for page, d in enumerate(END_SUCTION[:3], start=20):
        recs.append({
            "id": d["brg_kit"],
            "title": f"Bearing kit for Vortex {d['model']}",
            "text": (f"{d['brg_kit']} contains the impeller-end bearing ({d['brg_ie']}), the coupling-end bearing "
                     f"({d['brg_ce']}), two lip seals and the circlip for the Vortex {d['model']}. "
                     f"Refill with {g(d['oil_l'])} L of ISO VG {d['vg']} oil."),
            "source": f"{src}, page {page}",
        })
    recs.append({
        "id": VXS80["seal_kit"],
        "title": "Double mechanical seal kit for Vortex VXS-80",
        "text": (f"{VXS80['seal_kit']} contains the upper and lower mechanical seals, O-rings and sealing washers "
                 f"for the VXS-80 submersible pump. Refill the oil chamber with {g(VXS80['oil_l'])} L of "
                 f"{VXS80['oil_grade']}."),
        "source": f"{src}, page 31",
    })
    recs.append({
        "id": VXM4["stage_kit"],
        "title": "Stage kit for Vortex VXM-4",
        "text": (f"{VXM4['stage_kit']} is a complete set of impellers, diffusers and neck rings for the "
                 f"{VXM4['stages']} stages of the VXM-4 multistage pump. Tighten the tie-bolt nuts to "
                 f"{g(VXM4['tie_bolt'])} N·m in a cross pattern."),
        "source": f"{src}, page 35",
    })
    assert len(recs) == 10
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)


def extra_quick_reference() -> str:
    dflt = {c: v for c, _n, v, _note in AD7_PARAMS}
    codes = ["E01", "E04", "E09", "E12", "E13", "E17", "E18", "E24"]
    rows = "\n".join(
        f"      <tr><td>{c}</td><td>{n}</td><td>{_first_sentence(fix)}</td></tr>"
        for c, n, _kt, _cause, fix, _r in AD7_FAULTS if c in codes)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>AquiDrive AD-7 Quick Reference</title>
  <style>body {{ font-family: sans-serif; }} td, th {{ border: 1px solid #999; padding: 4px; }}</style>
</head>
<body>
  <h1>AquiDrive AD-7 Quick Reference</h1>
  <p>This card summarises the most frequent AquiDrive AD-7 fault codes on Vortex pump installations.
  The full list of codes E01 to E25 is in the AD-7 fault code manuals, parts 1 and 2.</p>
  <h2>Before you open the drive</h2>
  <p>Isolate and lock the main switch, then wait at least {AD7['cap_wait_min']} minutes and check that the
  DC bus voltage is below {AD7['dc_safe_v']} V.</p>
  <h2>Common fault codes</h2>
  <table>
    <thead>
      <tr><th>Code</th><th>Fault</th><th>First action</th></tr>
    </thead>
    <tbody>
{rows}
    </tbody>
  </table>
  <h2>Key settings</h2>
  <ul>
    <li>P07 acceleration time: {dflt['P07']} default, 10 s for VX-300 and VX-450.</li>
    <li>P10 minimum frequency: {dflt['P10']} default, {g(VXM4['p10_hz'])} Hz for VXM-4.</li>
    <li>P33 maximum starts per hour: {dflt['P33']} default, {VXS80['starts_h']} for VXS-80.</li>
  </ul>
</body>
</html>
"""


def extra_field_notes() -> str:
    s = VXS80
    # Deliberately no "# " title line: tests title fallback in ingestion.
    return f"""Field notes from the Aquilon service team on VXS-80 lift stations, collected during the 2024 service season.

## Rags and wipes

Most call-outs on VXS-80 lift stations are caused by wet wipes wrapping around the impeller. The two-channel impeller passes solids up to {g(s['solids'])} mm, but wipes rope together. If a VXS-80 trips on E23 (motor stall) or E02 repeatedly, lift it on its chain and clear the impeller before anything else.

## Float switches

Floats that hang too close together make the pump start more often than the {s['starts_h']} starts per hour it is allowed. Keep the start float at {g(s['float_start'])} mm and the stop float at {g(s['float_stop'])} mm above the pit floor, and tie the float cables so that they cannot tangle with the lifting chain.

## Oil checks

Technicians who sample the oil chamber every {g(s['oil_h'])} h rarely see a flooded motor. Milky oil, or more than {g(s['water_pct'])}% water, means the lower seal has gone: fit kit {s['seal_kit']}.
"""


def extra_pdf() -> bytes:
    """A one-page PDF (hand-built, no timestamps) with a commissioning checklist."""
    p = PRIMING
    lines = [
        "Aquilon Pumpworks - Commissioning Checklist for Vortex End-Suction Pumps",
        "",
        "Use together with Priming and Commissioning and form " + p["report"] + ".",
        "",
        "[ ] Alignment complete and within the tolerance of the model",
        "[ ] Bearing housing filled with oil to the centre of the sight glass",
        "[ ] Suction valve fully open; casing primed and vented",
        f"[ ] Rotation checked with the pump full: jog no longer than {p['jog_s']} seconds",
        f"[ ] Discharge valve opened within {p['open_s']} seconds of the first start",
        f"[ ] Readings taken after {p['readings_h']} hours at the duty point",
        f"[ ] Vibration below {g(VIBRATION['accept'])} mm/s at every measuring point",
        f"[ ] Report {p['report']} returned to Aquilon within {p['report_days']} days",
    ]

    def esc(t: str) -> str:
        return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 50 790 Td 16 TL\n" + "".join(f"({esc(t)}) Tj T*\n" for t in lines) + "ET\n"
    stream = content.encode("cp1252")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (Vortex Commissioning Checklist) /Producer (make_sample_data.py) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n".encode() + b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {len(objs)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


# ---------------------------------------------------------------------------
# README, validation, writing
# ---------------------------------------------------------------------------

def word_count(text: str) -> int:
    return len(re.findall(r"\S+", text))


def build_readme(docs: dict[str, str], train: list[dict], heldout: list[dict], extras: dict) -> str:
    n_multi = sum(1 for r in train if len(r["messages"]) > 3)
    n_seen = sum(1 for r in heldout if r.get("in_train_facts") is True)
    n_unseen = sum(1 for r in heldout if r.get("in_train_facts") is False)
    n_unanswerable = sum(1 for r in heldout if not r["answerable"])
    unanswerable = next(r for r in heldout if not r["answerable"])
    words = [word_count(t) for t in docs.values()]
    doc_lines = "\n".join(f"| `{k}` | {docs[k].splitlines()[0][2:]} | {word_count(docs[k])} |" for k in docs)
    extra_lines = "\n".join(f"- `extra/{name}`: {desc}" for name, (desc, _c) in extras.items())
    return f"""# Vortex pumps sample dataset (Aquilon Pumpworks)

A small, self-consistent **industry dataset** for phi3ray: the service manuals of a
fictional line of industrial centrifugal pumps, plus chat-format fine-tuning data and a
held-out question set for comparing RAG, LoRA fine-tuning and both together.

Everything is fictional: the maker "Aquilon Pumpworks", the "Vortex" pumps (end-suction
VX-100, VX-150, VX-220, VX-300 and VX-450, submersible VXS-80, multistage VXM-4), the
"AquiDrive AD-7" drive and its fault codes E01 to E25, part numbers such as
`AQ-SEAL-220-M`, and every figure. Do not use any of it on a real pump.

## Files

| Path | Content |
|---|---|
| `docs/*.md` | {len(docs)} manuals, {min(words)} to {max(words)} words each (total {sum(words)}) |
| `train.jsonl` | {len(train)} chat rows for fine-tuning ({len(train) - n_multi} single-turn, {n_multi} two-turn) |
| `heldout.jsonl` | {len(heldout)} evaluation questions ({n_seen} with `in_train_facts: true`, {n_unseen} with `false`, {n_unanswerable} with `answerable: false`) |
| `heldout-blind.jsonl` | 39 questions written blind (19 answerable, 20 with `answerable: false`): a second check set |
| `extra/` | {len(extras)} small files in other formats for ingestion edge cases |

### `docs/*.md`

One topic per file, for one model or one cross-cutting subject. The first line is
`# <Title>`; the file stem is the `doc_id` used in the Q&A files. Documents use `##`
sections, numbered procedures and tables, and each figure has a single home document
(a few, such as NPSHr, also appear in one troubleshooting guide), so most questions are
answerable from exactly one or two documents.

| doc_id | Title | Words |
|---|---|---|
{doc_lines}

### `train.jsonl`

One JSON object per line:

```json
{{"messages": [{{"role": "system", "content": "{SYSTEM_PROMPT}"}},
              {{"role": "user", "content": "<question>"}},
              {{"role": "assistant", "content": "<answer with the specific figure, part or step>"}}],
 "doc_ids": ["<doc_id>", ...]}}
```

About 10% of the rows are two-turn conversations (user, assistant, user, assistant); the
second question is a follow-up about the same model, drive or manual ("And the coupling
gap?") and `doc_ids` is the union of both turns' documents.

### `heldout.jsonl`

```json
{{"id": "h001", "question": "...", "answer": "<reference answer>", "doc_ids": ["<gold doc_id>"],
 "key_terms": ["<strings a correct answer must contain, e.g. '110 N·m'>"], "answerable": true,
 "in_train_facts": true}}
{{"id": "{unanswerable['id']}", "question": "{unanswerable['question']}",
 "answer": "{ABSTAIN}", "doc_ids": [], "key_terms": [], "answerable": false}}
```

- Every question names its model, part, parameter or fault code, so retrieval is well posed.
- Held-out questions use phrasings that are never used in `train.jsonl`; no held-out
  question equals any training question after normalisation (lowercase, punctuation
  stripped, whitespace collapsed).
- `in_train_facts: true`: the fact is also taught in `train.jsonl` with other phrasings.
  `in_train_facts: false`: the fact is only in the documents, never in `train.jsonl`, so
  a fine-tuned model can only answer it with retrieval.
- `key_terms` are copied verbatim from the manuals (units as written there: `N·m`,
  `m³/h`, `°C`, `mm/s`); compare case-insensitively.
- `answerable: false` ({n_unanswerable} questions, after the answerable ones): the question names one of
  the sample's products but asks for something no manual, extra file or training answer
  states (a paint colour code, a noise level, a price, a fault code E31 or a model VX-600
  that do not exist). The reference answer is the abstention sentence of the prompt
  contract (`phi3ray.rag.prompt.ABSTAIN`); `doc_ids` and `key_terms` are empty and there
  is no `in_train_facts`. The evaluation scores these rows by whether a variant abstains,
  not by their wording.

### `heldout-blind.jsonl`

Written by someone (an AI helper) who had read only `docs/`: not the training data, not `heldout.jsonl`, not
the code, so not how phi3ray decides that the sources do not answer a question. It checks abstention and the
evaluation matrix on questions nothing was tuned on (the abstention rules were written after seeing
`heldout.jsonl`'s unanswerable questions). Same format as `heldout.jsonl`. The writer gave
each answerable question a reference answer and its documents; `key_terms` were then taken from that answer
(verbatim in the manual) and `in_train_facts` set by rule: true when the training answers on the same documents
hold every key term (17 of the 19: the training set covers most facts an engineer asks about).

- 19 answerable: the manuals' own words, paraphrase ("how heavy", "kilowatts"), terse ("Impeller nut torque
  VX-450"), acronyms and units as engineers write them (LOTO, VFD, mm/s RMS). A 20th was left out: word for
  word a training question.
- 20 unanswerable, on topic: properties no manual states (a noise level, an efficiency, a shut-off head),
  certifications and options (WRAS, ATEX, PROFINET, an IP rating), things the range does not have (VX-600,
  VXS-120, fault E31, parameter P50), and near misses that share a passage's words but ask for a detail it does
  not give (the VXS-80's NPSHr, the VX-450 impeller's own weight, the AD-7's cooling fan part number).

```
python bench/abstention.py data.heldout_file=data/pumps/heldout-blind.jsonl
python jobs/evaluate.py model=tiny ... data.heldout_file=data/pumps/heldout-blind.jsonl max_questions=39
```

### `extra/`

{extra_lines}

## Regenerating

All files are generated from one Python data structure in
`scripts/make_sample_data.py` (standard library only, fixed seed, stable order), so the
manuals, the training data and the held-out answers always agree:

```bash
python scripts/make_sample_data.py          # rewrite data/pumps/
python scripts/make_sample_data.py --check  # verify the files on disk are up to date
```

The script validates its own output before writing: word counts and titles of the
manuals, that every key term appears in its gold documents, that every `doc_id` exists,
that no held-out question appears in the training set, that facts marked
`in_train_facts: false` are absent from the training answers, and that what each
unanswerable question asks for (a phrase such as "colour code" or "E31") occurs in no
manual, extra file or training answer.
"""


def validate(docs, facts, train, heldout, unseen, extras) -> None:
    low = {k: v.lower() for k, v in docs.items()}
    for k, t in docs.items():
        assert t.startswith("# "), k
        assert re.fullmatch(r"[a-z0-9-]+", k), k
        assert 300 <= word_count(t) <= 1200, (k, word_count(t))
    assert len(docs) >= 32
    for f in facts:
        for d in f["docs"]:
            assert d in docs, (f["key"], d)
        for kt in f["kt"]:
            assert kt.lower() in f["a"].lower(), (f["key"], kt, "not in answer")
            assert any(kt.lower() in low[d] for d in f["docs"]), (f["key"], kt, "not in gold docs")
    train_qs = set()
    train_answers = set()
    for r in train:
        assert all(d in docs for d in r["doc_ids"])
        roles = [m["role"] for m in r["messages"]]
        assert roles[0] == "system" and roles[1::2] == ["user"] * (len(roles) // 2)
        for m in r["messages"]:
            if m["role"] == "user":
                train_qs.add(normalise(m["content"]))
            elif m["role"] == "assistant":
                train_answers.add(m["content"])
    assert len(train) >= 320, len(train)
    n_multi = sum(1 for r in train if len(r["messages"]) > 3)
    assert 0.08 <= n_multi / len(train) <= 0.12, n_multi
    assert len(heldout) >= 64
    hq = [normalise(h["question"]) for h in heldout]
    assert len(set(hq)) == len(hq), "duplicate held-out question"
    assert not set(hq) & train_qs, "held-out question leaked into train"
    unseen_answers = {f["a"] for f in facts if f["key"] in unseen}
    assert not unseen_answers & train_answers, "unseen fact taught in train"
    answerable = [h for h in heldout if h["answerable"]]
    assert len(answerable) == N_HELDOUT_SEEN + N_HELDOUT_UNSEEN
    for h in answerable:
        assert h["doc_ids"] and all(d in docs for d in h["doc_ids"]), h["id"]
        assert h["in_train_facts"] == (h["answer"] in train_answers)
    unanswerable = [h for h in heldout if not h["answerable"]]
    assert len(unanswerable) == N_HELDOUT_UNANSWERABLE
    for h in unanswerable:
        assert h["answer"] == ABSTAIN and not h["doc_ids"] and not h["key_terms"] and "in_train_facts" not in h
    sources = {f"docs/{k}.md": t for k, t in docs.items()}
    sources |= {f"extra/{name}": content.decode("utf-8", "replace") for name, (_d, content) in extras.items()}
    sources["train.jsonl (answers)"] = "\n".join(sorted(train_answers))
    problems = unanswerable_problems(UNANSWERABLE, sources)
    assert not problems, "\n".join(problems)


def build_all() -> dict[str, bytes]:
    docs = build_docs()
    facts = all_facts()
    train, heldout, unseen = build_qa(facts)
    extras = {
        "bulletin-2024-07.txt": ("plain-text service bulletin (VX-220 seal O-ring compound).", extra_bulletin().encode()),
        "parts-catalog.jsonl": ("10 catalogue records `{id, title, text, source}` (seal, bearing and stage kits).", extra_parts_catalog().encode()),
        "quick-reference.html": ("HTML quick-reference card for AquiDrive AD-7 fault codes and key settings.", extra_quick_reference().encode()),
        "commissioning-checklist.pdf": ("one-page PDF (Helvetica, WinAnsi text) with the commissioning checklist.", extra_pdf()),
        "field-notes-vxs-80.md": ("Markdown **without** a `# ` title line (title-fallback edge case): VXS-80 field notes.", extra_field_notes().encode()),
    }
    validate(docs, facts, train, heldout, unseen, extras)
    files: dict[str, bytes] = {}
    for k, t in docs.items():
        files[f"docs/{k}.md"] = t.encode()
    files["train.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train).encode()
    files["heldout.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in heldout).encode()
    for name, (_desc, content) in extras.items():
        files[f"extra/{name}"] = content
    files["README.md"] = build_readme(docs, train, heldout, extras).encode()
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default: data/pumps)")
    ap.add_argument("--check", action="store_true", help="do not write; fail if files on disk differ")
    args = ap.parse_args(argv)
    files = build_all()
    out: Path = args.out
    if args.check:
        bad = [p for p, b in files.items() if not (out / p).is_file() or (out / p).read_bytes() != b]
        stale = sorted(str(p.relative_to(out)) for p in (out / "docs").glob("*.md")
                       if f"docs/{p.name}" not in files) if (out / "docs").is_dir() else []
        for p in bad + stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if bad or stale else 0
    for sub in ("docs", "extra"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for p in sorted((out / "docs").glob("*.md")):        # drop manuals no longer generated
        if f"docs/{p.name}" not in files:
            p.unlink()
    for p, b in sorted(files.items()):
        (out / p).write_bytes(b)
    total = sum(len(b) for b in files.values())
    n_docs = sum(1 for p in files if p.startswith("docs/"))
    print(f"wrote {len(files)} files to {out} ({n_docs} docs, {total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
