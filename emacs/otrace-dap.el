;;; otrace-dap.el --- Attach dap-mode to otrace's DAP endpoint -*- lexical-binding: t -*-

;; Copyright (C) 2025 otrace-server authors

;; Author: otrace-server authors
;; URL: https://github.com/mitotic/otrace

;; This file is not part of GNU Emacs.  It is part of the otrace package
;; and is distributed under the same license (GPL-3.0-or-later): see
;; otrace.el.

;;; Commentary:

;; A dap-mode debug provider "otrace" for the Debug Adapter Protocol
;; endpoint of a Python process running otrace-server (docs/PROTOCOL.md,
;; "DAP"): each held request is a stopped thread, gutter breakpoints are
;; live holds, snapshots or logpoints that never stop the server.
;;
;; The provider attaches through the process's discovery file (the same
;; files `otrace-connect' lists): host, port (dap_port) and token go into
;; the attach arguments.  A configuration may name the process with
;; :pid; else the only running process is used, or you choose one.
;;
;; Commands:
;;   `otrace-dap-attach'   attach dap-mode to a running process
;;   (also `dap-debug' with the template "otrace: attach to a running process")
;;
;; dap-mode is optional: loading this file loads dap-mode when it is
;; installed and registers the provider; without dap-mode it registers
;; nothing.  otrace.el autoloads `otrace-dap-attach' and registers the
;; provider whenever dap-mode loads, so the order of loading does not
;; matter.

;;; Code:

(require 'otrace)

(defvar dap--debug-providers)
(declare-function dap-register-debug-provider "dap-mode" (language-id provide-configuration-fn))
(declare-function dap-register-debug-template "dap-mode" (configuration-name configuration-settings))
(declare-function dap-debug "dap-mode" (debug-args))

(defconst otrace-dap-template-name "otrace: attach to a running process"
  "The name of the dap-mode template this file registers.")

(defun otrace-dap--process (pid)
  "The discovery plist of the otrace process PID, or of the one chosen.
With PID nil: the process `otrace-connect' is connected to, else the
only running process, else ask with `completing-read'."
  (let ((processes (otrace-processes)))
    (unless pid
      (setq pid (and (otrace-connected-p) (plist-get (otrace--info otrace--connection) :pid))))
    (cond (pid (or (cl-find pid processes :key (lambda (p) (plist-get p :pid)))
                   (otrace--error "No running otrace process %s in %s" pid (otrace-discovery-directory))))
          ((= (length processes) 1) (car processes))
          (t (otrace--read-process)))))

(defun otrace-dap-provide (conf)
  "Complete the dap-mode configuration CONF for an otrace process.
CONF may name the process with :pid.  Returns CONF with :host,
:debugServer (the DAP port) and :token from the discovery file,
:request \"attach\" and a :name; for a worker of a fleet :fleet t, so
that its breakpoints are fleet orders (every worker, later ones too)."
  (let* ((info (otrace-dap--process (plist-get conf :pid)))
         (port (or (plist-get info :dap_port)
                   (otrace--error "Process %s serves no DAP endpoint (dap_port is null)"
                                  (plist-get info :pid))))
         (conf (copy-sequence conf)))
    (setq conf (plist-put conf :host (or (plist-get info :host) "127.0.0.1")))
    (setq conf (plist-put conf :debugServer port))
    (setq conf (plist-put conf :token (plist-get info :token)))
    (setq conf (plist-put conf :request "attach"))
    (setq conf (plist-put conf :pid (plist-get info :pid)))
    (when (plist-get info :fleet)          ; a worker of a fleet: breakpoints for every worker
      (setq conf (plist-put conf :fleet t)))
    (unless (plist-get conf :name)
      (setq conf (plist-put conf :name (format "otrace %s" (plist-get info :pid)))))
    conf))

(defun otrace-dap-register ()
  "Register the \"otrace\" debug provider and its template with dap-mode."
  (dap-register-debug-provider "otrace" #'otrace-dap-provide)
  (dap-register-debug-template otrace-dap-template-name
                               (list :type "otrace" :request "attach" :name "otrace")))

(defun otrace-dap--require ()
  "Load dap-mode, or signal a `user-error' saying why it cannot be loaded."
  (unless (featurep 'dap-mode)
    (if (locate-library "dap-mode")
        (require 'dap-mode)             ; a broken dap-mode shows its own error
      (let ((elpa (expand-file-name "elpa" user-emacs-directory)))
        (if (file-expand-wildcards (expand-file-name "dap-mode-*" elpa))
            (otrace--error "Dap-mode is installed in %s but not activated: \
run (package-initialize) first" elpa)
          (otrace--error "Dap-mode is not installed \
\(M-x package-install RET dap-mode, or Debian: elpa-dap-mode)"))))))

;;;###autoload
(defun otrace-dap-attach (&optional pid)
  "Attach dap-mode to the DAP endpoint of a running otrace process.
With PID, that process; else the connected one (`otrace-connect'),
the only one, or the one you choose."
  (interactive)
  (otrace-dap--require)
  (dap-debug (list :type "otrace" :request "attach" :pid pid)))

(when (require 'dap-mode nil t)
  (otrace-dap-register))

(provide 'otrace-dap)
;;; otrace-dap.el ends here
