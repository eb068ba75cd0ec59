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
MULTI_TURN_SHARE = 0.10  # share of train rows that are two-turn conversations


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
    "clr_min": 0.3, "clr_max": 0.5, "clr_adjust": 1.0, "imp_bolt": 35, "thermal_c": 140,
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
    ("P01", "Motor rated current", "none (must be set)", "Enter the full-load current from the motor nameplate, in amperes. The motor overload protection (E09) is calculated from it."),
    ("P02", "Motor rated frequency", "50 Hz", "Set to the nameplate frequency."),
    ("P03", "Motor rated speed", "2900 rpm", "Set to the nameplate speed; four-pole models (VX-300, VX-450, VXS-80) need about 1480 rpm."),
    ("P07", "Acceleration time", "5 s", "Time from 0 to the maximum frequency. Use 10 s for the VX-300 and the VX-450."),
    ("P08", "Deceleration time", "5 s", "Time from the maximum frequency to 0. Too short a time causes E04."),
    ("P10", "Minimum frequency", "25 Hz", "Below this the pump may fall under its minimum continuous flow. Use 30 Hz for the VXM-4."),
    ("P11", "Maximum frequency", "50 Hz", "Do not set above 50 Hz: Vortex impellers and motors are rated for nominal 50 Hz speed only."),
    ("P20", "Dry-run power threshold", "30%", "Shaft power, in percent of rated power, below which the drive suspects dry running."),
    ("P21", "Dry-run delay", "10 s", "How long the power must stay below P20 before E12 trips."),
    ("P23", "Low suction pressure trip", "0.3 bar", "Suction pressure below which E13 trips (needs a suction transmitter on AI2)."),
    ("P27", "Bearing temperature trip", "90 °C", "Set it to the bearing temperature limit of the pump; the alarm comes 5 K below the trip."),
    ("P29", "Vibration trip", "7.1 mm/s", "Set it to the trip value for the pump model in Troubleshooting: Vibration."),
    ("P33", "Maximum starts per hour", "10", "E24 trips when the count is exceeded. Set 15 for the VXS-80."),
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
     "The heatsink temperature exceeded 90 °C. The cooling air is blocked, the cabinet filters are clogged or the ambient temperature is above the 40 °C rating.",
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
        setting = (f"Slide the rotating unit onto the shaft and set it by dimension: its back face must be "
                   f"{c['seal_set']} mm from the seal-chamber face. Lock the grub screws.")
        kit = "the rotating unit, the stationary seat with its O-ring and the seal-plate gasket"
    else:
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

The Vortex {c['m']} is sealed by a {c['seal_desc']} with {c['faces']} faces and {c['elast']} elastomers. The replacement kit is part number {c['seal_kit']} and contains {kit}. This manual describes how to replace the seal with the rotating assembly withdrawn from the casing (back pull-out), so the casing and the pipework stay in place.

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
4. Undo the seal gland (seal plate) bolts and lift off the seal plate together with the stationary part of the seal.
5. Slide the rotating part of the seal off the shaft. Inspect the shaft, or shaft sleeve where fitted, for scoring; a groove deeper than 0.1 mm means the sleeve or shaft must be replaced.

## Fitting the new seal

1. Clean the shaft and the seal chamber. Handle the seal faces by their edges only and wipe them with alcohol; a fingerprint is enough to make a new seal leak.
2. {lube}
3. Press the stationary seat squarely into the seal plate, using the protective card from the kit.
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
